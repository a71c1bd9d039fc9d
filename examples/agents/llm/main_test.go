package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/pkg/agentsdk"
)

// TestChat runs a task against a fake OpenAI-compatible server.
func TestChat(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/chat/completions", r.URL.Path)
		require.Equal(t, "Bearer sk-test", r.Header.Get("Authorization"))
		var req chatRequest
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		if req.Messages[len(req.Messages)-1].Content == "overload" {
			http.Error(w, `{"error":{"message":"rate limited"}}`, http.StatusTooManyRequests)
			return
		}
		require.Equal(t, chatRequest{Model: "tiny", Messages: []chatMessage{{"system", "be brief"}, {"user", "hi"}}}, req)
		_, _ = w.Write([]byte(`{"choices":[{"message":{"role":"assistant","content":"hello"}}]}`))
	}))
	defer srv.Close()
	chat := &chatClient{baseURL: srv.URL, model: "tiny", apiKey: "sk-test", hc: srv.Client()}

	out, err := chat.handle(t.Context(), &agentsdk.Task{Input: json.RawMessage(`{"prompt":"hi","system":"be brief"}`)})
	require.NoError(t, err)
	require.Equal(t, "hello", out)

	_, err = chat.handle(t.Context(), &agentsdk.Task{Input: json.RawMessage(`"overload"`)})
	require.ErrorContains(t, err, "HTTP 429")
	_, err = chat.handle(t.Context(), &agentsdk.Task{Input: json.RawMessage(`{"system":"x"}`)})
	require.ErrorContains(t, err, "rejected")

	manifest, err := os.ReadFile("../llm.yml")
	require.NoError(t, err)
	_, err = agentsdk.New(manifest, chat.handle)
	require.NoError(t, err)
}

func TestCompletionsURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "https://api.openai.com/v1/chat/completions", completionsURL("https://api.openai.com/v1/"))
	require.Equal(t, "http://localhost:11434/v1/chat/completions", completionsURL("http://localhost:11434"))
}
