package a2a

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPartJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		part Part
		v1   string
		v03  string
	}{
		{"text", TextPart("hi"), `{"text":"hi"}`, `{"kind":"text","text":"hi"}`},
		{"empty text", TextPart(""), `{"text":""}`, `{"kind":"text","text":""}`},
		{"data object", DataPart(json.RawMessage(`{"a":1}`)), `{"data":{"a":1}}`, `{"kind":"data","data":{"a":1}}`},
		{"data scalar", DataPart(json.RawMessage(`42`)), `{"data":42}`, `{"kind":"data","data":{"value":42}}`},
		{"raw", Part{Raw: []byte{0xff, 0xfe}, Filename: "f.png", MediaType: "image/png"},
			`{"raw":"//4=","filename":"f.png","mediaType":"image/png"}`,
			`{"kind":"file","file":{"bytes":"//4=","mimeType":"image/png","name":"f.png"}}`},
		{"url", Part{URL: "https://x/y.pdf", MediaType: "application/pdf"},
			`{"url":"https://x/y.pdf","mediaType":"application/pdf"}`,
			`{"kind":"file","file":{"uri":"https://x/y.pdf","mimeType":"application/pdf"}}`},
		{"metadata", Part{Text: "x", Metadata: map[string]any{"k": "v"}}, `{"text":"x","metadata":{"k":"v"}}`, `{"kind":"text","text":"x","metadata":{"k":"v"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.part)
			require.NoError(t, err)
			require.JSONEq(t, tt.v1, string(got))
			legacy, err := json.Marshal(toLegacyPart(tt.part))
			require.NoError(t, err)
			require.JSONEq(t, tt.v03, string(legacy))

			var back Part
			require.NoError(t, json.Unmarshal(got, &back))
			require.Equal(t, tt.part, back)
			var fromLegacy Part
			require.NoError(t, json.Unmarshal(legacy, &fromLegacy))
			if tt.name != "data scalar" { // v0.3 cannot carry it unwrapped
				require.Equal(t, tt.part, fromLegacy)
			}
		})
	}
}

func TestPartDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{}`, `{"kind":"text"}`, `{"kind":"video","text":"x"}`, `{"kind":"file","file":{}}`, `{"raw":"%%%"}`, `[]`} {
		var p Part
		require.Error(t, json.Unmarshal([]byte(in), &p), in)
	}
	var p Part
	require.NoError(t, json.Unmarshal([]byte(`{"raw":"_-8"}`), &p), "URL-safe base64 without padding")
	require.Equal(t, []byte{0xff, 0xef}, p.Raw)
}

func TestEnumsAcceptBothSpellings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]TaskState{
		`"completed"`: TaskStateCompleted, `"TASK_STATE_COMPLETED"`: TaskStateCompleted,
		`"input-required"`: TaskStateInputRequired, `"cancelled"`: TaskStateCanceled,
		`"auth-required"`: TaskStateAuthRequired, `"TASK_STATE_REJECTED"`: TaskStateRejected,
	} {
		var s TaskState
		require.NoError(t, json.Unmarshal([]byte(in), &s))
		require.Equal(t, want, s, in)
		require.True(t, s.Valid())
	}
	var odd TaskState
	require.NoError(t, json.Unmarshal([]byte(`"pondering"`), &odd))
	require.False(t, odd.Valid())
	require.False(t, TaskStateUnspecified.Valid())

	for in, want := range map[string]Role{`"user"`: RoleUser, `"ROLE_AGENT"`: RoleAgent, `"robot"`: RoleUnspecified} {
		var r Role
		require.NoError(t, json.Unmarshal([]byte(in), &r))
		require.Equal(t, want, r, in)
	}
}

func TestStreamEventDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, ev StreamEvent)
	}{
		{"v1 task", `{"task":{"id":"t1","status":{"state":"TASK_STATE_WORKING"}}}`, func(t *testing.T, ev StreamEvent) {
			require.Equal(t, "t1", ev.Task.ID)
			require.Equal(t, TaskStateWorking, ev.State())
		}},
		{"v1 status", `{"statusUpdate":{"taskId":"t1","contextId":"c","status":{"state":"TASK_STATE_FAILED"}}}`, func(t *testing.T, ev StreamEvent) {
			require.Equal(t, TaskStateFailed, ev.State())
		}},
		{"v1 message", `{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"hi"}]}}`, func(t *testing.T, ev StreamEvent) {
			require.Equal(t, "hi", ev.Message.Text())
		}},
		{"v0.3 task", `{"kind":"task","id":"t1","contextId":"c","status":{"state":"completed"}}`, func(t *testing.T, ev StreamEvent) {
			require.Equal(t, TaskStateCompleted, ev.Task.Status.State)
		}},
		{"v0.3 message", `{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"hi"}]}`, func(t *testing.T, ev StreamEvent) {
			require.Equal(t, RoleAgent, ev.Message.Role)
		}},
		{"v0.3 status", `{"kind":"status-update","taskId":"t1","contextId":"c","status":{"state":"working"},"final":false}`, func(t *testing.T, ev StreamEvent) {
			require.Equal(t, "t1", ev.StatusUpdate.TaskID)
		}},
		{"v0.3 artifact", `{"kind":"artifact-update","taskId":"t1","contextId":"c","artifact":{"artifactId":"a","parts":[{"kind":"data","data":{"x":1}}]}}`, func(t *testing.T, ev StreamEvent) {
			require.JSONEq(t, `{"x":1}`, string(ev.ArtifactUpdate.Artifact.Parts[0].Data))
		}},
		{"bare task without kind", `{"id":"t1","status":{"state":"submitted"}}`, func(t *testing.T, ev StreamEvent) {
			require.Equal(t, TaskStateSubmitted, ev.Task.Status.State)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ev StreamEvent
			require.NoError(t, json.Unmarshal([]byte(tt.in), &ev))
			tt.check(t, ev)
		})
	}
	for _, bad := range []string{`{}`, `{"task":{"id":"t"},"message":{"messageId":"m"}}`, `{"kind":"bogus"}`, `[]`, `{"task":{"id":1}}`} {
		var ev StreamEvent
		require.Error(t, json.Unmarshal([]byte(bad), &ev), bad)
	}
}

func TestCardServesBothVersions(t *testing.T) {
	t.Parallel()
	card := testCard(t.Context())
	card.SecuritySchemes = map[string]Scheme{
		"bearer": {HTTPAuth: &HTTPAuthScheme{Scheme: "Bearer"}},
		"key":    {APIKey: &APIKeyScheme{Location: "header", Name: "X-API-Key"}},
	}
	card.RequireSchemes("bearer", "key")
	srv := httptest.NewServer(CardHandler(func(ctx context.Context) AgentCard {
		require.NotEmpty(t, BaseURL(ctx))
		return card
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + WellKnownCardPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))

	// v1.0 fields.
	require.Equal(t, "JSONRPC", dig(doc, "supportedInterfaces", 0, "protocolBinding"))
	require.Equal(t, "1.0", dig(doc, "supportedInterfaces", 0, "protocolVersion"))
	require.Equal(t, "Bearer", dig(doc, "securitySchemes", "bearer", "httpAuthSecurityScheme", "scheme"))
	require.Equal(t, "header", dig(doc, "securitySchemes", "key", "apiKeySecurityScheme", "location"))
	require.NotNil(t, dig(doc, "securityRequirements", 0, "schemes", "bearer", "list"))
	require.Equal(t, []any{}, doc["skills"])
	require.Equal(t, []any{}, doc["defaultInputModes"])
	// v0.3 fields.
	require.Equal(t, "http://agent.test/", doc["url"])
	require.Equal(t, "JSONRPC", doc["preferredTransport"])
	require.Equal(t, "0.3.0", doc["protocolVersion"])
	require.Equal(t, "http", dig(doc, "securitySchemes", "bearer", "type"))
	require.Equal(t, "apiKey", dig(doc, "securitySchemes", "key", "type"))
	require.Equal(t, "header", dig(doc, "securitySchemes", "key", "in"))
	require.NotNil(t, dig(doc, "security", 0, "bearer"))

	// Both shapes decode.
	var back AgentCard
	raw, _ := json.Marshal(doc)
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, card.SecuritySchemes, back.SecuritySchemes)
	var legacyOnly Scheme
	require.NoError(t, json.Unmarshal([]byte(`{"type":"http","scheme":"bearer"}`), &legacyOnly))
	require.Equal(t, "bearer", legacyOnly.HTTPAuth.Scheme)
	require.Equal(t, "http://agent.test/", back.JSONRPCURL())

	resp, err = http.Post(srv.URL+WellKnownCardPath, "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestJSONRPCURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "http://v1", AgentCard{SupportedInterfaces: []AgentInterface{
		{URL: "http://grpc", ProtocolBinding: BindingGRPC, ProtocolVersion: "1.0"},
		{URL: "http://v03", ProtocolBinding: BindingJSONRPC, ProtocolVersion: "0.3"},
		{URL: "http://v1", ProtocolBinding: BindingJSONRPC, ProtocolVersion: "1.0"},
	}}.JSONRPCURL())
	require.Equal(t, "http://legacy", AgentCard{URL: "http://legacy"}.JSONRPCURL())
	require.Empty(t, AgentCard{URL: "http://legacy", PreferredTransport: BindingGRPC}.JSONRPCURL())
}

func TestTrimHistory(t *testing.T) {
	t.Parallel()
	task := Task{History: []Message{{MessageID: "1"}, {MessageID: "2"}, {MessageID: "3"}}}
	two, zero, neg := 2, 0, -1
	require.Len(t, TrimHistory(task, nil).History, 3)
	require.Equal(t, "2", TrimHistory(task, &two).History[0].MessageID)
	require.Nil(t, TrimHistory(task, &zero).History)
	require.Nil(t, TrimHistory(task, &neg).History)
}
