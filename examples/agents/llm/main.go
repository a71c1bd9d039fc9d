// Command llm is an OSSA agent backed by any OpenAI-compatible chat model
// (examples/agents/llm.yml): OpenAI, Ollama, vLLM, LM Studio…
//
// Input is a prompt, or {"prompt": "...", "system": "..."}; the output is
// the model's answer as text. Configuration:
//
//	OSSA_LLM_BASE_URL  the API base, e.g. https://api.openai.com/v1 or http://localhost:11434/v1
//	OSSA_LLM_MODEL     the model, e.g. gpt-4o-mini or llama3.2
//	OSSA_LLM_API_KEY   sent as a bearer token when set
//
// plus the agent's own OSSA_URL, OSSA_API_KEY, LISTEN_ADDR and PUBLIC_URL.
// Run it from the repository root (OSSA_MANIFEST names another manifest):
//
//	OSSA_LLM_BASE_URL=http://localhost:11434/v1 OSSA_LLM_MODEL=llama3.2 go run ./examples/agents/llm
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ossa-platform/ossa/pkg/agentsdk"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("llm agent failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	chat := &chatClient{
		baseURL: os.Getenv("OSSA_LLM_BASE_URL"), model: os.Getenv("OSSA_LLM_MODEL"),
		apiKey: os.Getenv("OSSA_LLM_API_KEY"), hc: http.DefaultClient,
	}
	if chat.baseURL == "" || chat.model == "" {
		return errors.New("set OSSA_LLM_BASE_URL and OSSA_LLM_MODEL")
	}
	manifest, err := os.ReadFile(cmp.Or(os.Getenv("OSSA_MANIFEST"), "examples/agents/llm.yml"))
	if err != nil {
		return err
	}
	agent, err := agentsdk.New(manifest, chat.handle)
	if err != nil {
		return err
	}
	return agent.Run(ctx)
}

// chatClient calls /chat/completions of an OpenAI-compatible API.
type chatClient struct {
	baseURL, model, apiKey string
	hc                     *http.Client
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
}

func (c *chatClient) handle(ctx context.Context, t *agentsdk.Task) (any, error) {
	var in struct {
		Prompt string `json:"prompt"`
		System string `json:"system"`
	}
	if err := json.Unmarshal(t.Input, &in.Prompt); err != nil {
		if err := t.Decode(&in); err != nil || in.Prompt == "" {
			return nil, agentsdk.Reject(`input must be a prompt or {"prompt": "...", "system": "..."}`)
		}
	}
	var msgs []chatMessage
	if in.System != "" {
		msgs = append(msgs, chatMessage{Role: "system", Content: in.System})
	}
	return c.complete(ctx, append(msgs, chatMessage{Role: "user", Content: in.Prompt}))
}

// complete returns the model's answer to msgs.
func (c *chatClient) complete(ctx context.Context, msgs []chatMessage) (string, error) {
	body, err := json.Marshal(chatRequest{Model: c.model, Messages: msgs})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, completionsURL(c.baseURL), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("call model: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", fmt.Errorf("read model answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("model answered HTTP %d: %.500s", resp.StatusCode, data)
	}
	var out chatResponse
	if err := json.Unmarshal(data, &out); err != nil || len(out.Choices) == 0 {
		return "", fmt.Errorf("model answer has no choices: %.500s", data)
	}
	return out.Choices[0].Message.Content, nil
}

// completionsURL accepts a base with or without the /v1 that OpenAI's SDKs
// include in theirs.
func completionsURL(base string) string {
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	return base + "/chat/completions"
}
