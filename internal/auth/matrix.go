package auth

import "strings"

// MatrixMarkdown renders the role × permission matrix as a Markdown table,
// one row per permission. docs/security.md embeds it and a test keeps the two
// equal, so the documented matrix is the enforced one.
func MatrixMarkdown() string {
	var b strings.Builder
	b.WriteString("| permission |")
	for _, r := range Roles {
		b.WriteString(" " + string(r) + " |")
	}
	b.WriteString("\n|---|")
	for range Roles {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, perm := range Permissions {
		b.WriteString("| `" + perm + "` |")
		for _, r := range Roles {
			mark := " – |"
			if r.Can(perm) {
				mark = " ✓ |"
			}
			b.WriteString(mark)
		}
		b.WriteString("\n")
	}
	return b.String()
}
