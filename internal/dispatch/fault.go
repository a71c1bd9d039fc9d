package dispatch

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxDetail caps how much of an agent's answer an AgentError keeps.
const maxDetail = 2 << 10

// truncate cuts s to maxDetail bytes on a rune boundary.
func truncate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// retryableStatus reports whether an HTTP status may succeed on another
// attempt: 5xx, 408 Request Timeout and 429 Too Many Requests. Any other 4xx
// means the agent refused a well-formed request and will again.
func retryableStatus(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// statusError is the AgentError for a non-2xx HTTP answer.
func statusError(protocol string, status int, body string) *AgentError {
	e := &AgentError{Protocol: protocol, Status: status, Detail: truncate(body)}
	if e.Detail == "" {
		e.Detail = http.StatusText(status)
	}
	if !retryableStatus(status) {
		e.Err = ErrPermanent
	}
	return e
}

// sendUpdate offers u to updates without blocking: a slow consumer loses
// progress events rather than stalling the attempt.
func sendUpdate(updates chan<- Update, u Update) {
	if updates == nil {
		return
	}
	select {
	case updates <- u:
	default:
	}
}
