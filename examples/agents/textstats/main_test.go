package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/pkg/agentsdk"
)

const text = "Go is a language. Go makes concurrency simple! Channels connect goroutines in Go. " +
	"The weather was nice today? Simple programs are easy to read."

func call(t *testing.T, capability, input string) (any, error) {
	t.Helper()
	return handle(t.Context(), &agentsdk.Task{ID: "t", Capability: capability, Input: json.RawMessage(input), Attempt: 1})
}

func TestWordStats(t *testing.T) {
	t.Parallel()
	in, _ := json.Marshal(map[string]any{"text": text, "top": 3})
	out, err := call(t, "word_stats", string(in))
	require.NoError(t, err)
	require.Equal(t, Stats{
		Words: 24, Sentences: 5, Characters: len(text), AverageSentenceWords: 4.8,
		TopWords: []WordCount{{"go", 3}, {"simple", 2}, {"channels", 1}},
	}, out)
}

func TestSummarization(t *testing.T) {
	t.Parallel()
	in, _ := json.Marshal(text)
	out, err := call(t, "summarization", string(in))
	require.NoError(t, err)
	require.Equal(t, Summary{Summary: "Go makes concurrency simple! Channels connect goroutines in Go.", Sentences: 2}, out)

	again, err := call(t, "summarization", string(in))
	require.NoError(t, err)
	require.Equal(t, out, again, "summaries are deterministic")

	out, err = call(t, "summarization", `{"text":"One sentence only","sentences":4}`)
	require.NoError(t, err)
	require.Equal(t, Summary{Summary: "One sentence only", Sentences: 1}, out)
}

func TestReadingTime(t *testing.T) {
	t.Parallel()
	in, _ := json.Marshal(map[string]string{"text": text})
	out, err := call(t, "reading_time", string(in))
	require.NoError(t, err)
	require.Equal(t, ReadingTime{Words: 24, Minutes: 0.1}, out)
}

func TestRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`42`, `"   "`, `{"text":""}`} {
		_, err := call(t, "word_stats", in)
		require.ErrorContains(t, err, "rejected", in)
	}
}

// TestManifest checks that the agent starts from its manifest.
func TestManifest(t *testing.T) {
	t.Parallel()
	manifest, err := os.ReadFile("../text-stats.yml")
	require.NoError(t, err)
	agent, err := agentsdk.New(manifest, handle)
	require.NoError(t, err)
	require.Equal(t, []string{"summarization", "word_stats", "reading_time"}, agent.Capabilities())
}
