package pipelines

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/text"
)

func init() {
	register.Function1x1[transforms.FileRef, string](sourceOf)
	register.DoFn2x0[string, func(string)](&wordsFn{})
	register.Function2x1[string, int, text.WordCount](toWordCount)
	register.Combiner3[wordList, text.WordCount, wordList](&collectWordsFn{})
	register.DoFn2x1[context.Context, wordList, error](&learnVocabFn{})
	beam.RegisterType(typeOf[text.WordCount]())
	beam.RegisterType(typeOf[wordList]())
}

// VocabOptions configure `pretext vocab`.
type VocabOptions struct {
	Input     string // file pattern
	Output    string // the vocab.txt to write, on any Beam filesystem
	LowerCase bool
	Learn     text.LearnConfig
}

// Vocab builds the vocabulary-learning pipeline: read every line of the
// input (textio splits large files over workers), split it into words as
// BERT's BasicTokenizer does, count the words (a combine, so only word counts
// are shuffled), then learn a WordPiece vocabulary from the counts on one
// worker and write it as vocab.txt.
func Vocab(s beam.Scope, o VocabOptions) {
	s = s.Scope("pipelines.Vocab")
	// The vocab has no dead-letter dataset: what matching could not read
	// adds no words.
	refs, _, _ := Match(s, beam.Create(s, o.Input), "", 0)
	lines := textio.ReadAll(s, beam.ParDo(s, sourceOf, beam.Reshuffle(s, refs)))
	counts := beam.ParDo(s, toWordCount, stats.Count(s, beam.ParDo(s, &wordsFn{LowerCase: o.LowerCase}, lines)))
	beam.ParDo0(s, &learnVocabFn{Output: o.Output, Learn: o.Learn}, beam.Combine(s, &collectWordsFn{}, counts))
}

func sourceOf(r transforms.FileRef) string { return r.Source }

type wordsFn struct{ LowerCase bool }

func (f *wordsFn) ProcessElement(line string, emit func(string)) {
	if !utf8.ValidString(line) {
		line = strings.ToValidUTF8(line, "")
	}
	for _, w := range text.BasicTokenize(line, f.LowerCase) {
		emit(w)
	}
}

func toWordCount(w string, n int) text.WordCount { return text.WordCount{Word: w, Count: int64(n)} }

type wordList struct{ Words []text.WordCount }

type collectWordsFn struct{}

func (collectWordsFn) CreateAccumulator() wordList { return wordList{} }
func (collectWordsFn) AddInput(a wordList, w text.WordCount) wordList {
	a.Words = append(a.Words, w)
	return a
}
func (collectWordsFn) MergeAccumulators(a, b wordList) wordList {
	a.Words = append(a.Words, b.Words...)
	return a
}
func (collectWordsFn) ExtractOutput(a wordList) wordList {
	sort.Slice(a.Words, func(i, j int) bool { return a.Words[i].Word < a.Words[j].Word })
	return a
}

type learnVocabFn struct {
	Output string
	Learn  text.LearnConfig
}

func (f *learnVocabFn) ProcessElement(ctx context.Context, words wordList) error {
	vocab := text.LearnVocab(words.Words, f.Learn)
	fs, err := sinks.NewFS(ctx, f.Output)
	if err != nil {
		return err
	}
	defer fs.Close()
	data := []byte(strings.Join(vocab, "\n") + "\n")
	tmp := f.Output + ".tmp"
	if err := sinks.WriteFile(ctx, fs, tmp, data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	return sinks.RenameFile(ctx, fs, tmp, f.Output)
}
