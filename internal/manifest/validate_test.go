package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// minimal is the reference's minimal core manifest (§1.9).
const minimal = `ossa: "0.1.8"
kind: Agent
metadata:
  name: doc-summarizer
  version: "0.3.0"
spec:
  conformance_tier: core
  class: nlp
  capabilities:
    primary: [summarization]
`

// governed meets every GOV rule and nothing more.
const governed = `ossa: "0.1.8"
kind: Agent
metadata:
  name: reconciler
  version: "1.0.0"
spec:
  conformance_tier: governed
  class: data
  capabilities:
    primary: [po_reconciliation]
  protocols:
    - {name: openapi, version: "3.1.0", required: true}
  endpoints:
    health: /health
  security:
    authentication: [api_key]
`

// advancedExtras, appended to governed's security block, meet the ADV rules.
const advancedExtras = `    encryption: {at_rest: aes_256, in_transit: tls_1_3}
    audit: {enabled: true}
  compliance_frameworks:
    - {name: SOC2, level: implemented}
`

// validate runs Validate and fails the test on a syntax error.
func validate(t *testing.T, src string) (*Manifest, Result) {
	t.Helper()
	m, res, err := Validate([]byte(src))
	require.NoError(t, err)
	require.Equal(t, len(res.Errors) == 0, res.Valid)
	return m, res
}

// paths lists the paths of diagnostics, for compact assertions.
func paths(ds []Diagnostic) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Path
	}
	return out
}

func TestBoundaryProbes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new string // substitution applied to minimal
		wantPath string // "" when the probe must be accepted
	}{
		{"name with dot and capitals", "name: doc-summarizer", "name: Doc.Summ", "/metadata/name"},
		{"two-part version", `version: "0.3.0"`, `version: "1.0"`, "/metadata/version"},
		{"unquoted two-part version is a number", `version: "0.3.0"`, `version: 1.0`, "/metadata/version"},
		{"empty primary", "primary: [summarization]", "primary: []", "/spec/capabilities/primary"},
		{"tier gold", "conformance_tier: core", "conformance_tier: gold", "/spec/conformance_tier"},
		{"ossa 0.1.9", `ossa: "0.1.8"`, "ossa: 0.1.9", "/ossa"},
		{"empty protocols", "    primary: [summarization]\n", "    primary: [summarization]\n  protocols: []\n", "/spec/protocols"},
		{"name too long", "name: doc-summarizer", "name: " + strings.Repeat("a", 65), "/metadata/name"},
		{"eleven primary capabilities", "primary: [summarization]", "primary: [a, b, c, d, e, f, g, h, i, j, k]", "/spec/capabilities/primary"},
		{"kind Workspace", "kind: Agent", "kind: Workspace", "/kind"},
		{"unknown class", "class: nlp", "class: coordinator", "/spec/class"},
		{"missing class", "  class: nlp\n", "", "/spec/class"},
		{"timestamp created", "  version: \"0.3.0\"\n", "  version: \"0.3.0\"\n  created: 2025-09-01T10:00:00Z\n", "/metadata/created"},
		{"endpoints without health", "    primary: [summarization]\n", "    primary: [summarization]\n  endpoints: {api: /v1}\n", "/spec/endpoints/health"},
		{"protocol webhook", "    primary: [summarization]\n", "    primary: [summarization]\n  protocols: [{name: webhook, version: \"1\", required: true}]\n", "/spec/protocols/0/name"},

		{"name with underscore", "name: doc-summarizer", "name: under_score", ""},
		{"pre-release version", `version: "0.3.0"`, `version: "1.0.0-rc1"`, ""},
		{"name of 64 characters", "name: doc-summarizer", "name: " + strings.Repeat("a", 64), ""},
		{"unquoted date", "  version: \"0.3.0\"\n", "  version: \"0.3.0\"\n  created: 2025-09-01\n", ""},
		{"kind omitted", "kind: Agent\n", "", ""},
		{"unknown extension keys", "    primary: [summarization]\n", "    primary: [summarization]\n  vortex_tokens: {supported_types: [DATA]}\nstatus: {phase: Running}\n", ""},
		{"a2a and http protocols", "    primary: [summarization]\n", "    primary: [summarization]\n  protocols: [{name: a2a, version: \"1.0\", required: true}, {name: http, version: \"1.1\", required: false}]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := strings.Replace(minimal, tt.old, tt.new, 1)
			require.NotEqual(t, minimal, src, "substitution did not apply")
			_, res := validate(t, src)
			if tt.wantPath == "" {
				require.True(t, res.Valid, "errors: %v", res.Errors)
				return
			}
			require.False(t, res.Valid)
			require.Contains(t, paths(res.Errors), tt.wantPath)
		})
	}
}

func TestMinimalManifest(t *testing.T) {
	t.Parallel()
	m, res := validate(t, minimal)
	require.True(t, res.Valid)
	require.Equal(t, TierCore, res.DeclaredTier)
	require.Equal(t, TierCore, res.TierReached)
	require.Empty(t, res.Warnings)
	require.Equal(t, "doc-summarizer", m.Metadata.Name)
	require.Equal(t, "0.3.0", m.Metadata.Version)
	require.Equal(t, TierCore, m.Spec.ConformanceTier)
	require.Equal(t, []string{"summarization"}, m.Spec.Capabilities.Primary)
}

func TestNestedErrorPosition(t *testing.T) {
	t.Parallel()
	src := governed + `  performance:
    latency:
      health_check: "<50ms"
      capabilities: 100ms
    availability: {uptime_target: 101}
`
	_, res := validate(t, src)
	require.Equal(t, []Diagnostic{
		{
			Path: "/spec/performance/latency/capabilities", Line: 20, Column: 21,
			Message:  `"100ms" does not match ^<\d+ms$: use a bound in milliseconds, for example "<100ms"`,
			Severity: SeverityError,
		},
		{
			Path: "/spec/performance/availability/uptime_target", Line: 21, Column: 35,
			Message:  "must be at most 100 (got 101)",
			Severity: SeverityError,
		},
	}, res.Errors)
}

func TestMissingValuesPointAtNearestAncestor(t *testing.T) {
	t.Parallel()
	src := `ossa: "0.1.8"
metadata:
  name: x
spec:
  class: nlp
  capabilities: {}
`
	_, res := validate(t, src)
	want := map[string][2]int{
		"/metadata/version":          {2, 1},
		"/spec/conformance_tier":     {4, 1},
		"/spec/capabilities/primary": {6, 3},
	}
	require.Len(t, res.Errors, len(want))
	for _, d := range res.Errors {
		at, ok := want[d.Path]
		require.True(t, ok, "unexpected diagnostic %s", d)
		require.Equal(t, at, [2]int{d.Line, d.Column}, d.String())
		require.Equal(t, "required property is missing", d.Message)
	}
}

func TestAllViolationsReportedSorted(t *testing.T) {
	t.Parallel()
	src := `ossa: "0.1.9"
metadata:
  name: BAD
  version: x
  tags: [a, b, c, d, e, f, g, h, i, j, k]
spec:
  conformance_tier: core
  class: robot
  capabilities:
    primary: [ok]
    secondary: 7
`
	_, res := validate(t, src)
	require.Equal(t, []string{"/ossa", "/metadata/name", "/metadata/version", "/metadata/tags", "/spec/class", "/spec/capabilities/secondary"}, paths(res.Errors))
	for i := 1; i < len(res.Errors); i++ {
		require.LessOrEqual(t, res.Errors[i-1].Line, res.Errors[i].Line)
	}
}

func TestTierRules(t *testing.T) {
	t.Parallel()
	adv := strings.Replace(governed, "conformance_tier: governed", "conformance_tier: advanced", 1) + advancedExtras
	tests := []struct {
		name      string
		src       string
		valid     bool
		declared  Tier
		reached   Tier
		wantRules []string
	}{
		{"core meets core", minimal, true, TierCore, TierCore, nil},
		{"core declaration meeting governed", strings.Replace(governed, "tier: governed", "tier: core", 1), true, TierCore, TierGoverned, nil},
		{"governed meets governed", governed, true, TierGoverned, TierGoverned, nil},
		{"advanced meets advanced", adv, true, TierAdvanced, TierAdvanced, nil},
		{"governed without auth", strings.Replace(governed, "[api_key]", "[none]", 1), false, TierGoverned, TierCore, []string{"GOV-002"}},
		{"governed without security block", strings.Replace(governed, "  security:\n    authentication: [api_key]\n", "", 1), false, TierGoverned, TierCore, []string{"GOV-002"}},
		{"governed without health", strings.Replace(governed, "  endpoints:\n    health: /health\n", "", 1), false, TierGoverned, TierCore, []string{"GOV-003"}},
		{"governed without openapi", strings.Replace(governed, "name: openapi", "name: mcp", 1), false, TierGoverned, TierCore, []string{"GOV-004"}},
		{"governed meeting nothing extra", strings.Replace(minimal, "tier: core", "tier: governed", 1), false, TierGoverned, TierCore, []string{"GOV-003", "GOV-004", "GOV-002"}},
		{"advanced without compliance", strings.Replace(adv, "  compliance_frameworks:\n    - {name: SOC2, level: implemented}\n", "", 1), false, TierAdvanced, TierGoverned, []string{"ADV-003"}},
		{"advanced with empty compliance", strings.Replace(adv, "  compliance_frameworks:\n    - {name: SOC2, level: implemented}\n", "  compliance_frameworks: []\n", 1), false, TierAdvanced, TierGoverned, []string{"ADV-003"}},
		{"advanced without audit", strings.Replace(adv, "audit: {enabled: true}", "audit: {enabled: false}", 1), false, TierAdvanced, TierGoverned, []string{"ADV-002"}},
		{"advanced with no encryption in transit", strings.Replace(adv, "in_transit: tls_1_3", "in_transit: none", 1), false, TierAdvanced, TierGoverned, []string{"ADV-004"}},
		{"advanced failing governed", strings.Replace(adv, "name: openapi", "name: mcp", 1), false, TierAdvanced, TierCore, []string{"GOV-004"}},
		{"advanced breaking the schema reaches nothing", strings.Replace(adv, "health: /health", "status: /status", 1), false, TierAdvanced, "", nil},
		{"semver suffix fails core", strings.Replace(minimal, `"0.3.0"`, `"1.2.3xyz"`, 1), false, TierCore, "", []string{"CORE-002"}},
		{"blank primary capability fails core", strings.Replace(minimal, "[summarization]", `[" "]`, 1), false, TierCore, "", []string{"CORE-003"}},
		{"unknown tier is checked as core", strings.Replace(minimal, "tier: core", "tier: gold", 1), false, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, res := validate(t, tt.src)
			require.Equal(t, tt.valid, res.Valid, "errors: %v", res.Errors)
			require.Equal(t, tt.declared, res.DeclaredTier)
			require.Equal(t, tt.reached, res.TierReached)
			var rules []string
			for _, d := range res.Errors {
				if d.Rule != "" {
					rules = append(rules, d.Rule)
				}
				require.Positive(t, d.Line, d.String())
			}
			if tt.wantRules != nil {
				require.Equal(t, tt.wantRules, rules)
			}
			if res.TierReached != "" {
				require.NotNil(t, m, "schema-valid manifests come back typed")
			}
		})
	}
}

func TestRuleFindingsYieldToSchemaErrors(t *testing.T) {
	t.Parallel()
	// security is a string: the schema error says so; GOV-002 about
	// /spec/security/authentication would only repeat it.
	src := strings.Replace(governed, "  security:\n    authentication: [api_key]\n", "  security: strong\n", 1)
	_, res := validate(t, src)
	require.Equal(t, []string{"/spec/security"}, paths(res.Errors))
	require.Equal(t, "must be a mapping, got a string", res.Errors[0].Message)
}

func TestOlderBodyNormalisation(t *testing.T) {
	t.Parallel()
	src := `ossa: "0.1.8"
metadata:
  name: web-researcher
  version: "0.9.2"
spec:
  conformance_tier: core
  class: specialist
  capabilities:
    - name: web_search
      description: Runs a web search.
    - citation
  protocols: [openapi, mcp]
`
	m, res := validate(t, src)
	require.True(t, res.Valid, "errors: %v", res.Errors)
	require.Equal(t, []string{"web_search", "citation"}, m.Spec.Capabilities.Primary)
	require.Equal(t, []Protocol{{Name: "openapi"}, {Name: "mcp"}}, m.Spec.Protocols)
	require.Equal(t, []Diagnostic{
		{Path: "/spec/capabilities", Line: 8, Column: 3, Rule: "NORM-001", Severity: SeverityWarning,
			Message: "older list of capabilities normalised to {primary: [web_search, citation]}"},
		{Path: "/spec/protocols", Line: 12, Column: 3, Rule: "NORM-002", Severity: SeverityWarning,
			Message: `older list of protocol names [openapi, mcp] normalised to {name, version: "", required: false} objects`},
	}, res.Warnings)
}

func TestOlderBodyErrorsKeepPositions(t *testing.T) {
	t.Parallel()
	src := `ossa: "0.1.8"
metadata: {name: x, version: "1.0.0"}
spec:
  conformance_tier: core
  class: nlp
  capabilities: [a]
  protocols:
    - openapi
    - webhook
`
	_, res := validate(t, src)
	require.Len(t, res.Errors, 1)
	require.Equal(t, "/spec/protocols/1/name", res.Errors[0].Path)
	require.Equal(t, [2]int{9, 7}, [2]int{res.Errors[0].Line, res.Errors[0].Column})
	require.Len(t, res.Warnings, 2)
}

func TestOlderBodyNotNormalisedWhenUnclear(t *testing.T) {
	t.Parallel()
	src := strings.Replace(minimal, "capabilities:\n    primary: [summarization]", "capabilities:\n    - {description: no name}\n  protocols: [openapi, {name: mcp, version: \"1\", required: false}]", 1)
	_, res := validate(t, src)
	require.Empty(t, res.Warnings)
	require.Equal(t, []string{"/spec/capabilities", "/spec/protocols/0"}, paths(res.Errors))
}

func TestJSONInput(t *testing.T) {
	t.Parallel()
	src := `{
  "ossa": "0.1.8",
  "kind": "Agent",
  "metadata": {"name": "doc-summarizer", "version": "0.3.0", "description": "a\/b \ud83d\ude00"},
  "spec": {
    "conformance_tier": "core",
    "class": "nlp",
    "capabilities": {"primary": ["summarization"]},
    "performance": {"availability": {"uptime_target": 99.9}, "concurrency": {"max_concurrent": 3}}
  }
}`
	m, res := validate(t, src)
	require.True(t, res.Valid, "errors: %v", res.Errors)
	require.Equal(t, "a/b 😀", m.Metadata.Description)
	require.Equal(t, 3, m.MaxConcurrency())

	bad := strings.Replace(src, `"class": "nlp"`, `"class": "robot"`, 1)
	_, res = validate(t, bad)
	require.Len(t, res.Errors, 1)
	require.Equal(t, "/spec/class", res.Errors[0].Path)
	require.Equal(t, [2]int{7, 14}, [2]int{res.Errors[0].Line, res.Errors[0].Column})

	nested := strings.Replace(src, `"primary": ["summarization"]`, `"primary": []`, 1)
	_, res = validate(t, nested)
	require.Len(t, res.Errors, 1)
	require.Equal(t, [2]int{8, 22}, [2]int{res.Errors[0].Line, res.Errors[0].Column}, "a nested list is reported at its key")
}

func TestYAMLValues(t *testing.T) {
	t.Parallel()
	src := `base: &base
  enabled: true
  integration_type: native_server
ossa: "0.1.8"
metadata:
  name: doc-summarizer
  version: "0.3.0"
  created: 2025-09-01
  labels: {replicas: "0x1F"}
spec:
  conformance_tier: core
  class: nlp
  capabilities:
    primary: [summarization]
  framework_support:
    mcp:
      <<: *base
      version: "1"
    langchain: {<<: *base, enabled: false}
  performance:
    throughput: {requests_per_second: 0x1F}
  discovery:
    uadp: {enabled: yes}
  x-weird: [.inf, 1_000, ~, !!binary aGk=]
`
	m, res := validate(t, src)
	require.Equal(t, []string{"/spec/discovery/uadp/enabled"}, paths(res.Errors), "YAML 1.2: yes is a string")
	require.Nil(t, m)

	m, res = validate(t, strings.Replace(src, "enabled: yes", "enabled: true", 1))
	require.True(t, res.Valid, "errors: %v", res.Errors)
	require.Equal(t, "2025-09-01", m.Metadata.Created)
	require.Equal(t, "0x1F", m.Metadata.Labels["replicas"])
	require.InDelta(t, 31.0, m.Spec.Performance.Throughput.RequestsPerSecond, 0)
	require.Equal(t, Framework{Enabled: true, IntegrationType: "native_server", Version: "1"}, m.Spec.FrameworkSupport["mcp"])
	require.Equal(t, Framework{Enabled: false, IntegrationType: "native_server"}, m.Spec.FrameworkSupport["langchain"])
	require.Equal(t, []any{".inf", int64(1000), nil, "aGk="}, m.Raw["spec"].(map[string]any)["x-weird"])
}

func TestSyntaxErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string
	}{
		{"empty", "", 1, 1, "document is empty"},
		{"comments only", "# nothing\n", 1, 1, "document is empty"},
		{"top-level list", "- a\n- b\n", 1, 1, "the top level must be a mapping, got a list"},
		{"top-level JSON array", "[1]", 1, 1, "the top level must be a mapping, got a list"},
		{"two documents", "a: 1\n---\nb: 2\n", 2, 1, "found a second YAML document; a manifest file holds exactly one"},
		{"duplicate key", "ossa: x\nspec:\n  a: 1\n  a: 2\n", 4, 3, `mapping key "a" is already defined at line 3`},
		{"duplicate JSON key", "{\"a\": 1,\n \"a\": 2}", 2, 2, `mapping key "a" is already defined at line 1`},
		{"integer key", "spec:\n  1: x\n", 2, 3, "mapping keys must be strings, got the number 1 (quote it)"},
		{"unknown alias", "a: 1\nb: *nope\n", 2, 4, `unknown anchor "nope"`},
		{"self-referencing alias", "a: &x [*x]\n", 1, 8, "alias *x refers to a value that contains it"},
		{"unclosed flow list", "a: 1\nb: [x, y\nc: 3\n", 3, 1, "',' or ']' must be specified"},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", 3, 2, "did not find expected key"},
		{"tab indentation", "a: 1\n\tb: 2\n", 2, 1, "found a tab character that violates indentation"},
		{"malformed JSON", "{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3, "invalid character '\"' after object key:value pair"},
		{"truncated JSON", "{\"a\": [1,", 1, 10, "unexpected end of JSON input"},
		{"NUL byte", "a: \x00\n", 1, 4, "control character U+0000 is not allowed"},
		{"invalid UTF-8", "a: b\nc: \xff\n", 2, 4, "invalid UTF-8 byte 0xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, res, err := Validate([]byte(tt.src))
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			require.Equal(t, &SyntaxError{Line: tt.line, Column: tt.col, Msg: tt.msg}, se)
			require.Nil(t, m)
			require.False(t, res.Valid)
		})
	}
}

func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	_, _, err := Validate([]byte(b.String()))
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	require.Contains(t, se.Msg, "document expands to more than")
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	data := []byte(minimal + "# " + strings.Repeat("x", MaxSize) + "\n")
	_, res, err := Validate(data)
	require.ErrorIs(t, err, ErrTooLarge)
	require.False(t, res.Valid)
}

func TestDecodeOverflowIsADiagnostic(t *testing.T) {
	t.Parallel()
	src := `{"ossa": "0.1.8", "metadata": {"name": "a", "version": "1.0.0"},
 "spec": {"conformance_tier": "core", "class": "nlp", "capabilities": {"primary": ["x"]},
  "performance": {"concurrency": {"max_concurrent": 1e300}}}}`
	m, res := validate(t, src)
	require.Nil(t, m)
	require.Equal(t, []string{"/spec/performance/concurrency/max_concurrent"}, paths(res.Errors))
	require.Equal(t, 3, res.Errors[0].Line)
}

func TestManifestMethods(t *testing.T) {
	t.Parallel()
	src := strings.Replace(governed, "primary: [po_reconciliation]",
		"primary: [po_reconciliation, matching]\n    secondary: [matching, report]", 1) +
		"  performance:\n    latency: {health_check: \"<50ms\"}\n    concurrency: {max_concurrent: 5}\n  x-extension: {kept: true}\n"
	m, res := validate(t, src)
	require.True(t, res.Valid, "errors: %v", res.Errors)

	require.Equal(t, []string{"po_reconciliation", "matching", "report"}, m.AllCapabilities())
	require.Equal(t, 5, m.MaxConcurrency())
	require.True(t, m.HasProtocol("openapi"))
	require.False(t, m.HasProtocol("a2a"))

	js, err := m.JSON()
	require.NoError(t, err)
	require.Contains(t, string(js), `"health_check":"<50ms"`, "no HTML escaping")
	require.Contains(t, string(js), `"x-extension":{"kept":true}`, "extension keys survive")

	// The canonical JSON is itself a manifest and round-trips exactly.
	m2, res2 := validate(t, string(js))
	require.True(t, res2.Valid)
	require.Equal(t, m.Spec, m2.Spec)
	js2, err := m2.JSON()
	require.NoError(t, err)
	require.Equal(t, string(js), string(js2))
}

func TestManifestWithoutRaw(t *testing.T) {
	t.Parallel()
	m := &Manifest{OSSA: "0.1.8", Metadata: Metadata{Name: "a", Version: "1.0.0"}}
	require.Equal(t, 0, m.MaxConcurrency())
	require.Empty(t, m.AllCapabilities())
	js, err := m.JSON()
	require.NoError(t, err)
	require.Contains(t, string(js), `"name":"a"`)
}

func TestValidateConcurrently(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yml"))
	require.NoError(t, err)
	inputs := make([][]byte, len(files))
	want := make([]string, len(files))
	for i, f := range files {
		inputs[i], err = os.ReadFile(f)
		require.NoError(t, err)
		want[i] = render(inputs[i])
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8*len(files))
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range inputs {
				if got := render(inputs[i]); got != want[i] {
					errs <- fmt.Errorf("%s: got %q, want %q", files[i], got, want[i])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestSchemaCompiles(t *testing.T) {
	t.Parallel()
	_, err := compileSchema()
	require.NoError(t, err)
	require.Contains(t, string(SchemaJSON()), SchemaID)
}

func TestDocsListEveryRule(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/manifest.md")
	require.NoError(t, err)
	ids := []string{"CORE-001", "GOV-001", "ADV-001", ruleNormCapabilities, ruleNormProtocols}
	for _, r := range rules {
		ids = append(ids, r.id)
	}
	for _, id := range ids {
		require.Contains(t, string(doc), "| "+id+" |", "docs/manifest.md must describe rule %s", id)
	}
}

func TestErrorIsOnlySyntaxOrSize(t *testing.T) {
	t.Parallel()
	for _, src := range []string{minimal, "", "a: [", strings.Repeat("a", MaxSize+1)} {
		_, _, err := Validate([]byte(src))
		var se *SyntaxError
		require.True(t, err == nil || errors.As(err, &se) || errors.Is(err, ErrTooLarge), "unexpected error %v", err)
	}
}

func BenchmarkValidate(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(examplesDir, "invoice-auditor-governed.yml"))
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, res, err := Validate(data); err != nil || !res.Valid {
			b.Fatalf("invalid: %v %v", err, res.Errors)
		}
	}
}

func BenchmarkValidateJSON(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(examplesDir, "invoice-auditor-governed.yml"))
	require.NoError(b, err)
	m, _, err := Validate(data)
	require.NoError(b, err)
	js, err := m.JSON()
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		if _, res, err := Validate(js); err != nil || !res.Valid {
			b.Fatalf("invalid: %v %v", err, res.Errors)
		}
	}
}
