// Command textstats is a deterministic text agent (examples/agents/
// text-stats.yml): word and sentence statistics, reading time, and
// summaries by extraction — no model, so the same text always gives the same
// answer.
//
// Input is text, or {"text": "...", "sentences": 2, "top": 5}. Capabilities:
//
//	word_stats     {"words", "sentences", "characters", "average_sentence_words", "top_words": [{"word", "count"}]}
//	summarization  {"summary", "sentences"}: the highest-scoring sentences, in their original order
//	reading_time   {"words", "minutes"} at 200 words a minute
//
// Run it from the repository root (OSSA_MANIFEST names another manifest):
//
//	OSSA_URL=http://localhost:3000 OSSA_API_KEY=ossa_... go run ./examples/agents/textstats
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"unicode"

	"github.com/ossa-platform/ossa/pkg/agentsdk"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("textstats agent failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	manifest, err := os.ReadFile(cmp.Or(os.Getenv("OSSA_MANIFEST"), "examples/agents/text-stats.yml"))
	if err != nil {
		return err
	}
	agent, err := agentsdk.New(manifest, handle)
	if err != nil {
		return err
	}
	return agent.Run(ctx)
}

// request is a task's input.
type request struct {
	Text string `json:"text"`
	// Sentences is the summary length; 0 means about a third of the text,
	// at least one sentence.
	Sentences int `json:"sentences"`
	// Top is how many frequent words to report; 0 means 5.
	Top int `json:"top"`
}

func handle(_ context.Context, t *agentsdk.Task) (any, error) {
	var req request
	if err := json.Unmarshal(t.Input, &req.Text); err != nil {
		if err := t.Decode(&req); err != nil {
			return nil, agentsdk.Reject(`input must be text or {"text": "..."}`)
		}
	}
	if strings.TrimSpace(req.Text) == "" {
		return nil, agentsdk.Reject("there is no text to work on")
	}
	switch t.Capability {
	case "word_stats":
		return wordStats(req.Text, cmp.Or(req.Top, 5)), nil
	case "summarization":
		return summarize(req.Text, req.Sentences), nil
	case "reading_time":
		return readingTime(req.Text), nil
	}
	return nil, agentsdk.Reject("unknown capability " + t.Capability)
}

// WordCount is a word and how often it occurs.
type WordCount struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

// Stats are the word_stats output.
type Stats struct {
	Words                int         `json:"words"`
	Sentences            int         `json:"sentences"`
	Characters           int         `json:"characters"`
	AverageSentenceWords float64     `json:"average_sentence_words"`
	TopWords             []WordCount `json:"top_words"`
}

func wordStats(text string, top int) Stats {
	words, sentences := tokenize(text), splitSentences(text)
	s := Stats{Words: len(words), Sentences: len(sentences), Characters: len([]rune(text)), TopWords: []WordCount{}}
	if s.Sentences > 0 {
		s.AverageSentenceWords = round1(float64(s.Words) / float64(s.Sentences))
	}
	freq := frequencies(words)
	for w, c := range freq {
		s.TopWords = append(s.TopWords, WordCount{w, c})
	}
	// Most frequent first; ties alphabetically, so the answer never varies.
	slices.SortFunc(s.TopWords, func(a, b WordCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Word, b.Word))
	})
	s.TopWords = s.TopWords[:min(top, len(s.TopWords))]
	return s
}

// Summary is the summarization output.
type Summary struct {
	Summary   string `json:"summary"`
	Sentences int    `json:"sentences"`
}

// summarize keeps the n sentences whose words are most frequent in the whole
// text (stop words aside), averaged so long sentences do not win by length.
func summarize(text string, n int) Summary {
	sentences := splitSentences(text)
	if n <= 0 {
		n = max(1, (len(sentences)+2)/3)
	}
	n = min(n, len(sentences))
	freq := frequencies(tokenize(text))
	type scored struct {
		index int
		score float64
	}
	ranked := make([]scored, len(sentences))
	for i, s := range sentences {
		words := tokenize(s)
		total := 0
		for _, w := range words {
			total += freq[w]
		}
		ranked[i] = scored{i, float64(total) / math.Max(1, float64(len(words)))}
	}
	slices.SortStableFunc(ranked, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	keep := ranked[:n]
	slices.SortFunc(keep, func(a, b scored) int { return cmp.Compare(a.index, b.index) })
	picked := make([]string, n)
	for i, k := range keep {
		picked[i] = sentences[k.index]
	}
	return Summary{Summary: strings.Join(picked, " "), Sentences: n}
}

// ReadingTime is the reading_time output.
type ReadingTime struct {
	Words   int     `json:"words"`
	Minutes float64 `json:"minutes"`
}

// wordsPerMinute is a typical adult silent reading speed.
const wordsPerMinute = 200

func readingTime(text string) ReadingTime {
	n := len(tokenize(text))
	return ReadingTime{Words: n, Minutes: round1(float64(n) / wordsPerMinute)}
}

// tokenize returns the lowercase words of text: runs of letters, digits and
// inner apostrophes.
func tokenize(text string) []string {
	fields := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
	words := fields[:0]
	for _, f := range fields {
		if f = strings.Trim(f, "'"); f != "" {
			words = append(words, f)
		}
	}
	return words
}

// splitSentences splits after ., ! or ? followed by a space or the end.
func splitSentences(text string) []string {
	var out []string
	start := 0
	runes := []rune(text)
	for i, r := range runes {
		end := r == '.' || r == '!' || r == '?'
		if end && (i+1 == len(runes) || unicode.IsSpace(runes[i+1])) {
			if s := strings.TrimSpace(string(runes[start : i+1])); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(string(runes[start:])); s != "" {
		out = append(out, s)
	}
	return out
}

// frequencies counts words, leaving out stop words.
func frequencies(words []string) map[string]int {
	freq := map[string]int{}
	for _, w := range words {
		if !stopWords[w] {
			freq[w]++
		}
	}
	return freq
}

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for from has have he her his i in is it its
		of on or our she so that the their them there they this to was we were what when which who will with you your`) {
		m[w] = true
	}
	return m
}()

func round1(x float64) float64 { return math.Round(x*10) / 10 }
