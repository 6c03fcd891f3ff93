package pipelines

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/sinks/beamsink"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/text"
)

func init() {
	register.DoFn5x1[context.Context, transforms.FileRef, func(TextRange), func(sinks.DeadLetter), func(string), error](&rangesFn{})
	register.DoFn5x1[context.Context, TextRange, func(sinks.TempFile), func(sinks.DeadLetter), func(string), error](&readDocsFn{})
	register.Function3x0[string, func(*sinks.TempFile) bool, func(BucketFiles)](collectBucket)
	register.DoFn5x1[context.Context, BucketJob, func(sinks.TempFile), func(sinks.DeadLetter), func(string), error](&labelTextFn{})
	register.Emitter1[TextRange]()
	register.Emitter1[BucketFiles]()
	register.Iter1[sinks.TempFile]()
	register.Iter1[BucketFiles]()
	beam.RegisterType(typeOf[TextRange]())
	beam.RegisterType(typeOf[BucketFiles]())
	beam.RegisterType(typeOf[TextDoc]())
}

// TextDoc is a tokenized document on its way to its group. It travels only
// inside bucket files (see package sinks), never through a Beam shuffle.
type TextDoc struct {
	Key string
	// Sentences are the token ids of each sentence.
	Sentences [][]int32
}

func (d TextDoc) RowKey() string    { return d.Key }
func (d TextDoc) RowVariant() int32 { return 0 }

var textDocFormat = sinks.FormatOf[TextDoc]()

// BucketFiles are the bucket files of one bucket of documents.
type BucketFiles struct {
	Bucket int
	Names  []string
}

// Text builds the text pipeline of every text task of the plan. Files are
// cut into byte ranges that different workers read (each range emits the
// documents that start in it, whole); documents are tokenized once and
// written to bucket files by hash(key) mod num_buckets; each bucket is read
// back in key order and cut into groups of group_size documents; every task
// labels each document with the other documents of its group
// (text.Labeler: BERT's task draws its random-next sentences from them) and
// writes its rows to a writer of its own. A document is labelled when any
// task made rows of it. Only file names and bucket-file names are shuffled.
// It returns PCollection<string> of the manifests written.
func Text(s beam.Scope, cfg configs.Config, plan Plan) beam.PCollection {
	s = s.Scope("pipelines.Text")
	// A text input is a document, not a file, so the references' outcomes
	// are not counted; a match dead letter is one input.
	refs, _, matchDead := Match(s, beam.Create(s, cfg.Input), cfg.Output, cfg.Limit)
	matchOutcomes := beam.ParDo(s, matchDeadOutcomes, matchDead)
	refs = beam.Reshuffle(s, refs)
	ranges, deadFiles, fileOutcomes := beam.ParDo3(s, &rangesFn{RangeBytes: int64(cfg.Text.RangeMB) << 20, Format: cfg.Text.Format}, refs)
	ranges = beam.Reshuffle(s, ranges)

	// Every task of the plan is a text task (configs.Validate): each gets
	// its own writer in every bucket job.
	tasks, deadDS := plan.Tasks()
	// Bucket files live in the first task's staging folder, so the commit
	// removes them with that task's temporary files. Every task reads them.
	first := tasks[0].Dataset
	buckets := sinks.Dataset{
		Name: "_buckets", Format: textDocFormat.Name(), Dir: first.Dir, RunID: plan.RunID,
		NumShards: cfg.Text.NumBuckets, MaxBufferBytes: first.MaxBufferBytes,
	}
	read := &readDocsFn{Text: cfg.Text, Buckets: buckets}
	bucketTemps, deadDocs, docOutcomes := beam.ParDo3(s, read, ranges)

	grouped := beam.ParDo(s, collectBucket, beam.GroupByKey(s, beam.ParDo(s, keyByPartition, bucketTemps)))
	label := &labelTextFn{Seed: cfg.Seed, Text: cfg.Text, Tasks: tasks, Buckets: buckets}
	temps, deadLabel, labelOutcomes := beam.ParDo3(s, label, bucketJobs(s, grouped))

	deadTemps := beamsink.WriteDeadLetters(s, deadDS, beam.Flatten(s, matchDead, deadFiles, deadDocs, deadLabel))
	return beamsink.Finalize(s, plan.Commits, beam.Flatten(s, temps, deadTemps), beam.Flatten(s, matchOutcomes, fileOutcomes, docOutcomes, labelOutcomes))
}

func keyByPartition(t sinks.TempFile) (string, sinks.TempFile) {
	return fmt.Sprintf("%05d", t.Partition), t
}

func init() {
	register.Function1x2[sinks.TempFile, string, sinks.TempFile](keyByPartition)
}

func collectBucket(_ string, temps func(*sinks.TempFile) bool, emit func(BucketFiles)) {
	var b BucketFiles
	var t sinks.TempFile
	for temps(&t) {
		b.Bucket = t.Partition
		b.Names = append(b.Names, t.Path)
	}
	sort.Strings(b.Names)
	emit(b)
}

// rangesFn cuts a file into byte ranges (one range in paragraphs format,
// where a file is a document).
type rangesFn struct {
	RangeBytes int64
	Format     string
}

// unreadFile ends a text file that could not be read at all as one input
// and a dead letter, counted in the manifest and in the live progress alike.
func unreadFile(ref transforms.FileRef, reason, detail string, dead func(sinks.DeadLetter), outcome func(string)) {
	transforms.Live.Inputs.Add(1)
	outcome(sinks.OutcomeInput)
	transforms.EndInput(ref, sinks.StageRead, reason, detail, dead, outcome)
}

func (f *rangesFn) ProcessElement(ctx context.Context, ref transforms.FileRef, emit func(TextRange), dead func(sinks.DeadLetter), outcome func(string)) error {
	size := ref.Size
	if size < 0 {
		fs, err := sinks.NewFS(ctx, ref.Source)
		if err != nil {
			return err
		}
		size, err = fs.Size(ctx, ref.Source)
		fs.Close()
		if err != nil {
			unreadFile(ref, "read_error", err.Error(), dead, outcome)
			return nil
		}
	}
	if size == 0 {
		unreadFile(ref, "empty_file", "0 bytes", dead, outcome)
		return nil
	}
	rb := f.RangeBytes
	if f.Format == "paragraphs" {
		rb = 0
	}
	for _, r := range SplitRanges(struct{ Source, Key string }{ref.Source, ref.Key}, size, rb) {
		emit(r)
	}
	return nil
}

// DocKey names a document: its file's key and the byte offset where it starts.
func DocKey(fileKey string, offset int64) string { return fmt.Sprintf("%s@%012d", fileKey, offset) }

// readDocsFn reads and tokenizes the documents of a range and writes them to
// bucket files.
type readDocsFn struct {
	Text    configs.Text
	Buckets sinks.Dataset

	tok *text.Tokenizer
	w   *sinks.Writer
}

func (f *readDocsFn) Setup(ctx context.Context) error {
	v, _, err := text.LoadVocab(ctx, f.Text.Vocab)
	if err != nil {
		return err
	}
	f.tok = text.NewTokenizer(v, f.Text.LowerCase)
	return nil
}

func (f *readDocsFn) StartBundle(ctx context.Context, _ func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) error {
	w, err := sinks.NewWriter(ctx, f.Buckets)
	f.w = w
	return err
}

func (f *readDocsFn) ProcessElement(ctx context.Context, r TextRange, _ func(sinks.TempFile), dead func(sinks.DeadLetter), outcome func(string)) error {
	fs, err := sinks.NewFS(ctx, r.Source)
	if err != nil {
		return err
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, r.Source)
	if err != nil {
		unreadFile(transforms.FileRef{Key: r.Key, Source: r.Source}, "read_error", err.Error(), dead, outcome)
		return nil
	}
	defer rc.Close()
	from := max(r.Start-1, 0)
	if from > 0 {
		if sk, ok := rc.(io.Seeker); ok {
			_, err = sk.Seek(from, io.SeekStart)
		} else {
			_, err = io.CopyN(io.Discard, rc, from)
		}
		if err != nil {
			return fmt.Errorf("%s: seeking to %d: %w", r.Source, from, err)
		}
	}
	emitDoc := func(d TextDocument) error {
		key := DocKey(r.Key, d.Offset)
		transforms.Live.Inputs.Add(1)
		outcome(sinks.OutcomeInput)
		if d.Bad == "" && f.Text.Format == "paragraphs" {
			d.Lines = paragraphSentences(d.Lines)
		}
		size := 0
		for _, l := range d.Lines {
			size += len(l)
		}
		var doc TextDoc
		if d.Bad == "" {
			doc = TextDoc{Key: key}
			for _, l := range d.Lines {
				if _, ids := f.tok.TokenizeIDs(l); len(ids) > 0 {
					doc.Sentences = append(doc.Sentences, ids)
				}
			}
			if len(doc.Sentences) == 0 {
				d.Bad, d.Detail = "no_tokens", "the document has no tokens"
			}
		}
		if d.Bad != "" {
			stage := sinks.StageRead
			if d.Bad == "no_tokens" {
				stage = sinks.StageTokenize
			}
			transforms.EndInput(transforms.FileRef{Key: key, Source: r.Source}, stage, d.Bad, d.Detail, dead, outcome)
			return nil
		}
		return f.w.Add(ctx, key, doc, 4*size+len(key))
	}
	maxLine := f.Text.MaxLineBytes
	if f.Text.Format == "paragraphs" {
		// A whole file is one document: blank lines end paragraphs, not documents.
		return readWholeFile(rc, maxLine, f.Text.MaxDocumentBytes, emitDoc)
	}
	return ReadDocuments(rc, r.Start, r.End, maxLine, f.Text.MaxDocumentBytes, emitDoc)
}

// readWholeFile reads a paragraphs-format file as one document whose lines
// keep their blank separators (as empty strings).
func readWholeFile(r io.Reader, maxLine, maxDoc int, emit func(TextDocument) error) error {
	var doc TextDocument
	var size int
	err := ReadDocuments(r, 0, 1<<62, maxLine, maxDoc, func(d TextDocument) error {
		if doc.Bad != "" {
			return nil
		}
		if d.Bad != "" {
			doc = TextDocument{Bad: d.Bad, Detail: d.Detail}
			return nil
		}
		for _, l := range d.Lines {
			size += len(l)
		}
		if size > maxDoc {
			doc = TextDocument{Bad: "document_too_large", Detail: fmt.Sprintf("more than %d bytes", maxDoc)}
			return nil
		}
		if len(doc.Lines) > 0 {
			doc.Lines = append(doc.Lines, "")
		}
		doc.Lines = append(doc.Lines, d.Lines...)
		return nil
	})
	if err != nil {
		return err
	}
	if doc.Bad == "" && len(doc.Lines) == 0 {
		doc = TextDocument{Bad: "no_tokens", Detail: "the file has only blank lines"}
	}
	return emit(doc)
}

// paragraphSentences joins each paragraph's lines and splits it into sentences.
func paragraphSentences(lines []string) []string {
	var out, para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, text.SplitSentences(strings.Join(para, " "))...)
			para = para[:0]
		}
	}
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		para = append(para, strings.TrimSpace(l))
	}
	flush()
	return out
}

func (f *readDocsFn) FinishBundle(ctx context.Context, emit func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) error {
	return f.w.Finish(ctx, emit)
}

// labelTextFn reads one bucket of documents in key order, cuts it into
// groups and has every text task label each document (text.Labeler), each
// task writing to its own writer.
type labelTextFn struct {
	Seed    int64
	Text    configs.Text
	Tasks   []text.TaskSpec
	Buckets sinks.Dataset // where the bucket files are

	labelers *text.Labelers
	pool     *beamsink.Pool[BucketJob, bucketDone]
}

func (f *labelTextFn) Setup(ctx context.Context) error {
	v, _, err := text.LoadVocab(ctx, f.Text.Vocab)
	if err != nil {
		return err
	}
	f.labelers, err = text.NewLabelers(f.Tasks, f.Seed, v)
	return err
}

// bucketDone is what f.bucket makes of one bucket.
type bucketDone struct {
	temps    []sinks.TempFile
	outcomes map[string]int64
	err      error
}

func (f *labelTextFn) StartBundle(ctx context.Context, _ func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) {
	// The buckets of a bundle are labelled by GOMAXPROCS workers (inline
	// with one).
	f.pool = beamsink.NewPool(ctx, beamsink.PoolSize(), f.bucket, func(job BucketJob, err error) bucketDone {
		return bucketDone{err: fmt.Errorf("pipelines: bucket %d: %w", job.Bucket.Bucket, err)}
	})
}

func (f *labelTextFn) ProcessElement(ctx context.Context, job BucketJob, emitTemp func(sinks.TempFile), _ func(sinks.DeadLetter), outcome func(string)) error {
	// A bucket holds two groups of documents and the bucket's files open,
	// so each holds a work slot (the pool's).
	return f.pool.Submit(job, emitBucket(emitTemp, outcome))
}

func (f *labelTextFn) FinishBundle(ctx context.Context, emitTemp func(sinks.TempFile), _ func(sinks.DeadLetter), outcome func(string)) error {
	return f.pool.Close(emitBucket(emitTemp, outcome))
}

// emitBucket emits a bucket's temporary files and outcomes, on the bundle's
// goroutine.
func emitBucket(emitTemp func(sinks.TempFile), outcome func(string)) func(bucketDone) error {
	return func(d bucketDone) error {
		if d.err != nil {
			return d.err
		}
		for _, t := range d.temps {
			emitTemp(t)
		}
		for o, n := range d.outcomes {
			for range n {
				outcome(o)
			}
		}
		return nil
	}
}

// bucket cuts one bucket's documents into groups and has every task label
// every document, each task into a writer of its own (the writers of every
// task share the process's sink.buffer_mb, as all writers do); it may run
// on a pool worker, so it collects what the bundle emits.
func (f *labelTextFn) bucket(ctx context.Context, job BucketJob) bucketDone {
	d := bucketDone{outcomes: map[string]int64{}}
	fs, err := sinks.NewFS(ctx, f.Buckets.Dir)
	if err != nil {
		return bucketDone{err: err}
	}
	defer fs.Close()
	writers := make([]*sinks.Writer, len(f.Tasks))
	out := make([]text.RowWriter, len(f.Tasks))
	for i, ts := range f.Tasks {
		w, err := sinks.NewWriter(ctx, ts.Dataset)
		if err != nil {
			return bucketDone{err: err}
		}
		writers[i], out[i] = w, w
	}
	// label labels one document with every task and counts its outcome:
	// labelled when any task made rows of it.
	label := func(doc text.Document, others []text.Document) error {
		rows, filtered, err := f.labelers.Label(ctx, doc, others, out)
		if err != nil {
			return err
		}
		transforms.Live.Rows.Add(int64(rows))
		if rows == 0 {
			transforms.Live.Filtered.Add(1)
			d.outcomes[sinks.OutcomeFiltered(filtered)]++
			return nil
		}
		d.outcomes[sinks.OutcomeLabeled]++
		return nil
	}
	// docs and odocs are reused across groups and documents: a Labeler
	// keeps no reference to its others.
	var docs, odocs []text.Document
	asDocs := func(dst []text.Document, src []TextDoc) []text.Document {
		for _, d := range src {
			dst = append(dst, text.Document{ID: d.Key, Sentences: d.Sentences})
		}
		return dst
	}
	g := grouping[TextDoc]{size: f.Text.GroupSize}
	err = eachGroup(ctx, fs, job, g, func(group, extra []TextDoc) error {
		docs = asDocs(docs[:0], group)
		if extra == nil {
			// Each document's others: the rest of its group, in order.
			for i := range docs {
				odocs = append(append(odocs[:0], docs[:i]...), docs[i+1:]...)
				if err := label(docs[i], odocs); err != nil {
					return err
				}
			}
			return nil
		}
		// The whole bucket is one document: its others are the first group
		// of the next non-empty bucket, none when the corpus is this one
		// document.
		odocs = asDocs(odocs[:0], extra)
		for i := range docs {
			if err := label(docs[i], odocs); err != nil {
				return err
			}
		}
		return nil
	})
	for _, w := range writers {
		if err != nil {
			break
		}
		err = w.Finish(ctx, func(t sinks.TempFile) { d.temps = append(d.temps, t) })
	}
	if err != nil {
		return bucketDone{err: err}
	}
	return d
}
