package text

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// LearnConfig shapes a learned WordPiece vocabulary.
type LearnConfig struct {
	// Size is the target number of entries, reserved tokens included.
	Size int
	// Reserved tokens come first, in order ([PAD], [UNK], [CLS], [SEP], [MASK]).
	Reserved []string
	// MaxTokenLength drops words longer than this many characters (BERT: 100)
	// and caps candidate pieces.
	MaxTokenLength int
	// Iterations of the top-down refinement (TensorFlow Text uses 4).
	Iterations int
}

// DefaultLearnConfig is bert-base's size and reserved tokens.
func DefaultLearnConfig() LearnConfig {
	return LearnConfig{
		Size:           30522,
		Reserved:       []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"},
		MaxTokenLength: 50,
		Iterations:     4,
	}
}

// WordCount is a word and how often it occurs.
type WordCount struct {
	Word  string
	Count int64
}

// LearnVocab learns a WordPiece vocabulary from word counts with the
// top-down algorithm of TensorFlow Text's bert_vocab_from_dataset
// (wordpiece_tokenizer_learner_lib): for a count threshold, count every
// substring of every word (a piece that does not start a word carries the ##
// prefix), accept pieces from the longest down whose count reaches the
// threshold, and take an accepted piece's occurrences away from its shorter
// prefixes, so that "ing" is not counted again inside an accepted "##ing";
// repeat with the words split by the pieces accepted so far. Every character
// of the corpus is always in the vocabulary (as a word start and as ##c), so
// no word of the training data becomes [UNK]. A binary search over the
// threshold brings the size closest to cfg.Size. words must be sorted by
// word (the result is then deterministic).
func LearnVocab(words []WordCount, cfg LearnConfig) []string {
	words = keepLearnable(words, cfg.MaxTokenLength)
	alphabet := alphabetOf(words)
	build := func(thresh int64) []string {
		return assemble(cfg.Reserved, alphabet, learnWithThreshold(words, thresh, cfg))
	}
	lo, hi := int64(1), int64(1)
	for _, w := range words {
		hi = max(hi, w.Count)
	}
	hi++
	best := build(hi)
	for lo < hi {
		mid := lo + (hi-lo)/2
		v := build(mid)
		if abs(len(v)-cfg.Size) < abs(len(best)-cfg.Size) || (abs(len(v)-cfg.Size) == abs(len(best)-cfg.Size) && len(v) <= cfg.Size) {
			best = v
		}
		if len(v) > cfg.Size {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if len(best) > cfg.Size {
		best = best[:cfg.Size]
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func keepLearnable(words []WordCount, maxLen int) []WordCount {
	out := make([]WordCount, 0, len(words))
	for _, w := range words {
		if w.Word != "" && utf8.RuneCountInString(w.Word) <= maxLen && w.Count > 0 {
			out = append(out, w)
		}
	}
	return out
}

func alphabetOf(words []WordCount) []string {
	seen := map[rune]bool{}
	for _, w := range words {
		for _, r := range w.Word {
			seen[r] = true
		}
	}
	runes := make([]rune, 0, len(seen))
	for r := range seen {
		runes = append(runes, r)
	}
	sort.Slice(runes, func(i, j int) bool { return runes[i] < runes[j] })
	out := make([]string, 0, 2*len(runes))
	for _, r := range runes {
		out = append(out, string(r))
	}
	for _, r := range runes {
		out = append(out, "##"+string(r))
	}
	return out
}

// assemble orders a vocabulary: reserved tokens, the alphabet, then learned
// pieces (most frequent first as learnWithThreshold returns them), without
// repeats.
func assemble(reserved, alphabet, learned []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, group := range [][]string{reserved, alphabet, learned} {
		for _, t := range group {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// learnWithThreshold returns the pieces accepted at threshold thresh, most
// frequent first (ties by piece).
func learnWithThreshold(words []WordCount, thresh int64, cfg LearnConfig) []string {
	accepted := map[string]int64{}
	for it := 0; it < cfg.Iterations; it++ {
		counts := map[string]int64{}
		for _, w := range words {
			if w.Count < 1 {
				continue
			}
			runes := []rune(w.Word)
			starts := allStarts(len(runes))
			if it > 0 {
				starts = splitStarts(runes, accepted, cfg.MaxTokenLength)
				if starts == nil {
					starts = allStarts(len(runes))
				}
			}
			for _, s := range starts {
				for e := s + 1; e <= len(runes) && e-s <= cfg.MaxTokenLength; e++ {
					counts[piece(runes, s, e)] += w.Count
				}
			}
		}
		// Longest first: an accepted piece takes its count from its prefixes.
		byLen := map[int][]string{}
		maxLen := 0
		for p := range counts {
			n := utf8.RuneCountInString(strings.TrimPrefix(p, "##"))
			byLen[n] = append(byLen[n], p)
			maxLen = max(maxLen, n)
		}
		next := map[string]int64{}
		for n := maxLen; n >= 1; n-- {
			ps := byLen[n]
			sort.Strings(ps)
			for _, p := range ps {
				c := counts[p]
				if c < thresh {
					continue
				}
				next[p] = c
				prefix := strings.HasPrefix(p, "##")
				body := []rune(strings.TrimPrefix(p, "##"))
				for l := 1; l < len(body); l++ {
					q := string(body[:l])
					if prefix {
						q = "##" + q
					}
					counts[q] -= c
				}
			}
		}
		accepted = next
	}
	out := make([]string, 0, len(accepted))
	for p := range accepted {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if accepted[out[i]] != accepted[out[j]] {
			return accepted[out[i]] > accepted[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func piece(runes []rune, s, e int) string {
	if s == 0 {
		return string(runes[s:e])
	}
	return "##" + string(runes[s:e])
}

func allStarts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// splitStarts splits a word greedily, longest match first, with the accepted
// pieces and returns where each piece starts; nil if it cannot be split.
func splitStarts(runes []rune, vocab map[string]int64, maxLen int) []int {
	var starts []int
	for s := 0; s < len(runes); {
		e := min(len(runes), s+maxLen)
		for ; e > s; e-- {
			if _, ok := vocab[piece(runes, s, e)]; ok {
				break
			}
		}
		if e == s {
			return nil
		}
		starts = append(starts, s)
		s = e
	}
	return starts
}
