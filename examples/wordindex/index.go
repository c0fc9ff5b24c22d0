package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// corpusSize is the number of generated words when no file is given.
const corpusSize = 300_000

// index is the warm state: sorted unique words and an anagram table. Its
// Deps declare $WORDINDEX_FILE: a server builds the index again when the
// file changes.
type index struct {
	protocol.Deps
	words    []string            // sorted, unique
	anagrams map[string][]string // sorted letters -> words
	built    time.Duration
	source   string
}

func newIndexHandler(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error) {
	start := time.Now()
	idx := &index{}
	words, source, err := loadWords(&idx.Deps)
	if err != nil {
		return nil, err
	}
	idx.build(words)
	idx.built = time.Since(start)
	idx.source = source
	log.Debug("index built", "words", len(idx.words), "took", idx.built)
	return idx, nil
}

// loadWords reads $WORDINDEX_FILE, declared in deps (the variable too), or
// generates the corpus.
func loadWords(deps *protocol.Deps) ([]string, string, error) {
	deps.DependOnEnv("WORDINDEX_FILE")
	if path := os.Getenv("WORDINDEX_FILE"); path != "" {
		data, err := deps.ReadFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("opening word list: %w", err)
		}
		var words []string
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if w := strings.TrimSpace(sc.Text()); w != "" {
				words = append(words, strings.ToLower(w))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, "", fmt.Errorf("reading word list: %w", err)
		}
		return words, path, nil
	}
	return generate(corpusSize), "generated", nil
}

// generate makes n pronounceable pseudo-words, the same on every run.
func generate(n int) []string {
	onsets := []string{"b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "pr", "r", "s", "st", "t", "tr", "v", "w", "z"}
	vowels := []string{"a", "e", "i", "o", "u", "ai", "ea", "ou"}
	codas := []string{"", "", "n", "r", "s", "t", "ck", "ll", "nd"}
	rng := rand.New(rand.NewPCG(1, 2))
	words := make([]string, n)
	var b strings.Builder
	for i := range words {
		b.Reset()
		for s := 0; s < 1+rng.IntN(3); s++ {
			b.WriteString(onsets[rng.IntN(len(onsets))])
			b.WriteString(vowels[rng.IntN(len(vowels))])
			b.WriteString(codas[rng.IntN(len(codas))])
		}
		words[i] = b.String()
	}
	return words
}

func (idx *index) build(words []string) {
	sort.Strings(words)
	uniq := words[:0]
	for i, w := range words {
		if i == 0 || w != words[i-1] {
			uniq = append(uniq, w)
		}
	}
	idx.words, idx.anagrams = uniq, make(map[string][]string, len(uniq))
	for _, w := range uniq {
		k := letters(w)
		idx.anagrams[k] = append(idx.anagrams[k], w)
	}
}

func letters(w string) string {
	b := []byte(w)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

// Reusable: queries only read the index.
func (idx *index) Reusable() bool { return true }

func (idx *index) ServeCommand(ctx context.Context, req *protocol.Request) int {
	if len(req.Args) == 0 {
		fmt.Fprintln(req.Stdout, "usage: wordindex count | has WORD | prefix P [LIMIT] | anagrams WORD | stats")
		return 0
	}
	w := bufio.NewWriter(req.Stdout)
	defer w.Flush()
	args := req.Args[1:]
	switch req.Args[0] {
	case "count":
		fmt.Fprintln(w, len(idx.words))
	case "stats":
		fmt.Fprintf(w, "words: %d\nsource: %s\nindex built in: %s\npid: %d\n", len(idx.words), idx.source, idx.built.Round(time.Millisecond), os.Getpid())
	case "has":
		if len(args) != 1 {
			return usage(req, "has WORD")
		}
		i := sort.SearchStrings(idx.words, args[0])
		if i < len(idx.words) && idx.words[i] == args[0] {
			fmt.Fprintln(w, "yes")
			return 0
		}
		fmt.Fprintln(w, "no")
		return 1
	case "prefix":
		if len(args) < 1 || len(args) > 2 {
			return usage(req, "prefix P [LIMIT]")
		}
		limit := 10
		if len(args) == 2 {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return usage(req, "prefix P [LIMIT]")
			}
			limit = n
		}
		for i := sort.SearchStrings(idx.words, args[0]); i < len(idx.words) && limit > 0; i++ {
			if !strings.HasPrefix(idx.words[i], args[0]) {
				break
			}
			fmt.Fprintln(w, idx.words[i])
			limit--
		}
	case "anagrams":
		if len(args) != 1 {
			return usage(req, "anagrams WORD")
		}
		for _, a := range idx.anagrams[letters(args[0])] {
			fmt.Fprintln(w, a)
		}
	default:
		fmt.Fprintf(req.Stderr, "wordindex: unknown command '%s'\n", req.Args[0])
		return 255
	}
	return 0
}

func usage(req *protocol.Request, text string) int {
	fmt.Fprintf(req.Stderr, "usage: wordindex %s\n", text)
	return 255
}
