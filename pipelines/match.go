package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

func init() {
	beam.RegisterType(typeOf[transforms.FileRef]())
	register.DoFn5x1[context.Context, string, func(transforms.FileRef), func(string), func(sinks.DeadLetter), error](&matchFn{})
	register.Function2x0[sinks.DeadLetter, func(string)](matchDeadOutcomes)
	register.Emitter1[transforms.FileRef]()
	register.Emitter1[string]()
	register.Emitter1[sinks.DeadLetter]()
}

// Match expands a file pattern into file references, sorted by key and cut to
// the first limit inputs (0 = all). ** matches across folders on every
// filesystem (Beam's local filesystem globs without it, so local patterns are
// walked here); * and ? stay within one folder; both match any byte of a name
// but '/', a newline included.
//
// On a local filesystem nothing the pattern covers is dropped silently:
//   - a symlinked file is an input sized (and so read, ranged and split) by
//     its target, with the key of the link's own path, so that it gives the
//     rows a regular file with the same bytes at that path gives;
//   - a symlinked folder is not followed (a link farm could otherwise repeat
//     or loop a tree); one warning line says how many were left out;
//   - a folder that cannot be listed, a broken link, a link loop, a name that
//     is not UTF-8 and a matched path that is not a regular file (a pipe, a
//     device) are dead letters (stage sinks.StageMatch) counted as inputs;
//   - the output folder, where it lies inside the input pattern, is left out
//     with one warning line: its files are this run's, not inputs.
//
// On gs:// and s3:// a pattern matches the object names a local pattern
// matches as paths ('/' separates folders), ** included: everything under
// the pattern's fixed prefix is listed, at any depth, and filtered here (see
// CheckPattern for what is refused).
//
// It expects PCollection<string> of patterns and returns
// PCollection<transforms.FileRef>; PCollection<string> of outcomes (one
// sinks.OutcomeInput per reference and, per dead letter, its OutcomeInput and
// OutcomeDead); and PCollection<sinks.DeadLetter> of the match's dead letters,
// for the dead-letter dataset.
func Match(s beam.Scope, patterns beam.PCollection, output string, limit int) (refs, outcomes, dead beam.PCollection) {
	s = s.Scope("pipelines.Match")
	refs, refOutcomes, dead := beam.ParDo3(s, &matchFn{Output: output, Limit: limit}, patterns)
	return refs, beam.Flatten(s, refOutcomes, beam.ParDo(s, matchDeadOutcomes, dead)), dead
}

// matchDeadOutcomes ends a match dead letter as one input: a pipeline whose
// inputs are not files (text counts documents) takes these outcomes alone.
// matchFn counts them in transforms.Live, so that a second use of this
// function does not count them twice.
func matchDeadOutcomes(d sinks.DeadLetter, outcome func(string)) {
	outcome(sinks.OutcomeInput)
	outcome(sinks.OutcomeDead(d.Stage, d.Reason))
}

type matchFn struct {
	Output string
	Limit  int
}

func (f *matchFn) ProcessElement(ctx context.Context, pattern string, emit func(transforms.FileRef), outcome func(string), dead func(sinks.DeadLetter)) error {
	m, err := MatchFiles(ctx, pattern, f.Output, f.Limit)
	if err != nil {
		return err
	}
	for _, w := range m.Warnings {
		fmt.Fprintln(os.Stderr, w)
	}
	for _, r := range m.Refs {
		transforms.Live.Matched.Add(1)
		emit(r)
		outcome(sinks.OutcomeInput)
	}
	for _, d := range m.Dead {
		transforms.Live.Matched.Add(1)
		transforms.Live.Inputs.Add(1)
		transforms.Live.DeadLetters.Add(1)
		dead(d)
	}
	return nil
}

// Matches is what a pattern matched: the inputs to read, the dead letters of
// what it covers but cannot be read, and warning lines for a person.
type Matches struct {
	Refs     []transforms.FileRef
	Dead     []sinks.DeadLetter
	Warnings []string
}

// MatchFiles lists the files matching pattern, sorted by key, at most limit
// inputs (references and dead letters together, in key order; 0 = all).
// Folders are never returned. output is the run's output folder ("" for
// none), left out of a local walk. See Match for what becomes a dead letter.
func MatchFiles(ctx context.Context, pattern, output string, limit int) (Matches, error) {
	prefix := FixedPrefix(pattern)
	re, err := globRegexp(pattern)
	if err != nil {
		return Matches{}, configs.Mistake(fmt.Errorf("pattern %q: %w", pattern, err))
	}
	var m Matches
	if !strings.Contains(pattern, "://") {
		m, err = walkLocal(pattern, prefix, output, re, os.ReadDir, false)
	} else {
		m.Refs, err = matchRemote(ctx, pattern, prefix, re)
	}
	if err != nil {
		return Matches{}, err
	}
	sort.Slice(m.Refs, func(i, j int) bool { return m.Refs[i].Key < m.Refs[j].Key })
	sort.Slice(m.Dead, func(i, j int) bool { return m.Dead[i].Key < m.Dead[j].Key })
	if limit > 0 && len(m.Refs)+len(m.Dead) > limit {
		// The first limit inputs by key, whichever way they end.
		var i, j int
		for i+j < limit {
			if j == len(m.Dead) || (i < len(m.Refs) && m.Refs[i].Key < m.Dead[j].Key) {
				i++
			} else {
				j++
			}
		}
		m.Refs, m.Dead = m.Refs[:i], m.Dead[:j]
	}
	return m, nil
}

// AnyLocalMatch reports whether the local pattern matches at least one
// input (a file, or what matching makes a dead letter), walking only until
// it finds one: a launch checks it before the pipeline, which walks the
// whole tree itself. A root that cannot be listed is an error, as in
// MatchFiles.
func AnyLocalMatch(pattern, output string) (bool, error) {
	re, err := globRegexp(pattern)
	if err != nil {
		return false, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	m, err := walkLocal(pattern, FixedPrefix(pattern), output, re, os.ReadDir, true)
	return len(m.Refs)+len(m.Dead) > 0, err
}

// FixedPrefix is the folder part of pattern before its first wildcard, with a
// trailing slash; keys are relative to it. A pattern without wildcards names
// one file, whose key is its base name.
func FixedPrefix(pattern string) string {
	i := strings.IndexAny(pattern, "*?[")
	if i < 0 {
		i = len(pattern)
	}
	j := strings.LastIndexByte(pattern[:i], '/')
	return pattern[:j+1]
}

// Match dead-letter reasons (stage sinks.StageMatch).
const (
	reasonListError  = "list_error"  // a folder the pattern covers cannot be listed
	reasonBrokenLink = "broken_link" // a symlink whose target does not exist
	reasonLinkLoop   = "link_loop"   // a symlink that resolves to itself (ELOOP)
	reasonBadName    = "bad_name"    // a name that is not UTF-8: DuckDB rejects such keys
	reasonNotAFile   = "not_a_file"  // a pipe, socket or device: reading one may block forever
	reasonStatError  = "read_error"  // a symlink's target cannot be looked up (permissions)
)

// readDirFunc lists a folder as os.ReadDir does; walkLocal takes it as a
// parameter so that a test can fail a listing even when it runs as root.
type readDirFunc func(dir string) ([]fs.DirEntry, error)

// walker walks a local folder tree for one pattern.
type walker struct {
	prefix  string
	re      *regexp.Regexp
	segs    []string // the pattern's '/'-separated segments
	free    int      // index of the first segment holding "**" (len(segs) if none)
	partial map[int]*regexp.Regexp
	readDir readDirFunc

	outAbs  string      // the output folder, absolute ("" if none)
	outInfo fs.FileInfo // the output folder's, when it exists

	m          Matches
	outSkipped bool
	linkedDirs []string
}

// walkLocal walks the folder tree under prefix; rel paths (prefix + the
// path below it, '/'-separated) are what the pattern's regexp matches.
// Only a root that cannot be listed is an error: a missing input folder is
// a mistake in the config, not a bad input. With first set it stops at the
// first folder that gave an input (a reference or a dead letter).
func walkLocal(pattern, prefix, output string, re *regexp.Regexp, readDir readDirFunc, first bool) (Matches, error) {
	w := &walker{prefix: prefix, re: re, segs: strings.Split(pattern, "/"), partial: map[int]*regexp.Regexp{}, readDir: readDir}
	w.free = len(w.segs)
	for i, sg := range w.segs {
		if strings.Contains(sg, "**") {
			w.free = i
			break
		}
	}
	if output != "" && !strings.Contains(output, "://") {
		if abs, err := filepath.Abs(output); err == nil {
			w.outAbs = abs
		}
		if info, err := os.Stat(output); err == nil {
			w.outInfo = info
		}
	}
	root := prefix
	if root == "" {
		root = "."
	}
	rootAbs, err := filepath.Abs(root)
	if err != nil {
		return Matches{}, fmt.Errorf("matching %q: %w", pattern, err)
	}
	entries, err := readDir(root)
	if err != nil {
		return Matches{}, fmt.Errorf("matching %q: %w", pattern, err)
	}
	var stack []walkFolder
	visit := func(f walkFolder, entries []fs.DirEntry) {
		// Pushed in reverse so that folders are walked in name order.
		var sub []walkFolder
		for _, e := range entries {
			if c, ok := w.entry(f, e); ok {
				sub = append(sub, c)
			}
		}
		for i := len(sub) - 1; i >= 0; i-- {
			stack = append(stack, sub[i])
		}
	}
	visit(walkFolder{root, rootAbs, prefix}, entries)
	for len(stack) > 0 && !(first && len(w.m.Refs)+len(w.m.Dead) > 0) {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		entries, err := readDir(f.dir)
		if err != nil {
			// os.ReadDir returns what it read before the error: those
			// entries are walked too.
			w.dead(f.rel, f.dir, reasonListError, err.Error())
		}
		visit(f, entries)
	}
	if w.outSkipped {
		w.m.Warnings = append(w.m.Warnings, fmt.Sprintf("pretext: warning: the output folder %s is inside the input pattern %s; its files are not inputs", output, pattern))
	}
	if n := len(w.linkedDirs); n > 0 {
		w.m.Warnings = append(w.m.Warnings, fmt.Sprintf("pretext: warning: %d symlinked folder(s) under %s are not followed (the first: %s)", n, pattern, escapeName(w.linkedDirs[0])))
	}
	return w.m, nil
}

// walkFolder is a folder to walk: its path as given, absolute, and in
// pattern space (ending in '/' unless it is "").
type walkFolder struct{ dir, abs, rel string }

// entry handles one entry of the folder f: a matched file becomes a
// reference or a dead letter; a folder that may hold matches is returned to
// be walked.
func (w *walker) entry(f walkFolder, e fs.DirEntry) (sub walkFolder, ok bool) {
	name := e.Name()
	p, abs, rel := filepath.Join(f.dir, name), filepath.Join(f.abs, name), f.rel+name
	t := e.Type()
	switch {
	case t.IsDir():
		if !w.mayHold(rel) {
			return sub, false
		}
		if w.isOutput(abs, e) {
			w.outSkipped = true
			return sub, false
		}
		return walkFolder{p, abs, rel + "/"}, true
	case t&fs.ModeSymlink != 0:
		matched := w.re.MatchString(rel)
		if !matched && !w.mayHold(rel) {
			return sub, false // neither a matching file nor a folder that could hold one
		}
		info, err := os.Stat(p)
		switch {
		case err == nil && info.IsDir():
			w.linkedDirs = append(w.linkedDirs, keyOf(rel, w.prefix)+"/")
		case !matched:
		case !utf8.ValidString(rel):
			w.dead(rel, p, reasonBadName, "the name is not valid UTF-8")
		case errors.Is(err, syscall.ELOOP):
			w.dead(rel, p, reasonLinkLoop, err.Error())
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			w.dead(rel, p, reasonBrokenLink, err.Error())
		case err != nil:
			w.dead(rel, p, reasonStatError, err.Error())
		case !info.Mode().IsRegular():
			w.dead(rel, p, reasonNotAFile, "the link's target is a "+info.Mode().Type().String())
		default:
			// The target's size: text cuts ranges by it, so the link's own
			// size would cut a linked file short.
			w.ref(rel, p, info.Size())
		}
		return sub, false
	}
	if !w.re.MatchString(rel) {
		return sub, false
	}
	switch {
	case !utf8.ValidString(rel):
		w.dead(rel, p, reasonBadName, "the name is not valid UTF-8")
	case !t.IsRegular():
		w.dead(rel, p, reasonNotAFile, "the file is a "+t.String())
	default:
		var size int64 = -1
		if info, err := e.Info(); err == nil {
			size = info.Size()
		}
		w.ref(rel, p, size)
	}
	return sub, false
}

func (w *walker) ref(rel, source string, size int64) {
	w.m.Refs = append(w.m.Refs, transforms.FileRef{Source: source, Key: keyOf(rel, w.prefix), Size: size})
}

// dead records a match dead letter. Key and source escape bytes that are not
// UTF-8 as \xNN, so that the dead-letter dataset itself stays readable by
// DuckDB and the name can still be found.
func (w *walker) dead(rel, source, reason, detail string) {
	w.m.Dead = append(w.m.Dead, sinks.DeadLetter{
		Key: escapeName(keyOf(rel, w.prefix)), Source: escapeName(source),
		Stage: sinks.StageMatch, Reason: reason, Detail: escapeName(detail),
	})
}

// isOutput reports whether the folder at abs is the run's output folder.
func (w *walker) isOutput(abs string, e fs.DirEntry) bool {
	if w.outAbs == "" {
		return false
	}
	if abs == w.outAbs {
		return true
	}
	if w.outInfo == nil {
		return false
	}
	info, err := e.Info()
	return err == nil && os.SameFile(info, w.outInfo)
}

// mayHold reports whether a folder at rel (pattern space, no trailing '/')
// could hold a match: its segments must match the pattern's up to the first
// "**", and without "**" it must be shallower than the pattern. So a folder
// no match can be in is neither walked nor, if unlistable, a dead letter.
func (w *walker) mayHold(rel string) bool {
	n := strings.Count(rel, "/") + 1
	if w.free == len(w.segs) && n >= len(w.segs) {
		return false
	}
	k := min(n, w.free)
	re, ok := w.partial[k]
	if !ok {
		var err error
		if re, err = globRegexp(strings.Join(w.segs[:k], "/")); err != nil {
			re = nil // a class cut at a '/': walk the folder rather than guess
		}
		w.partial[k] = re
	}
	if re == nil {
		return true
	}
	head := rel
	if k < n {
		head = strings.Join(strings.SplitN(rel, "/", k+1)[:k], "/")
	}
	return re.MatchString(head)
}

// escapeName writes each byte of s that is not part of valid UTF-8 as \xNN.
func escapeName(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// CheckPattern refuses, as the user's mistake, a pattern that no listing
// can match as documented: a glob that does not compile (an unclosed [), a
// remote pattern whose bucket is not literal (s3://logs-*/… would need every
// bucket listed), or ** on a remote filesystem other than gs:// and s3://,
// whose Beam List globs with filepath.Match: its * stops at '/', so ** would
// match one folder level there, silently. Local patterns need a listing to
// be judged (see AnyLocalMatch).
func CheckPattern(pattern string) error {
	if _, err := globRegexp(pattern); err != nil {
		return configs.Mistake(fmt.Errorf("pattern %q: %w", pattern, err))
	}
	i := strings.Index(pattern, "://")
	if i < 0 {
		return nil
	}
	scheme, fixed := pattern[:i], FixedPrefix(pattern)
	if len(fixed) < i+3 || strings.IndexByte(fixed[i+3:], '/') <= 0 {
		return configs.Mistake(fmt.Errorf("pattern %q: the bucket must be named in full, without wildcards (%s://BUCKET/PATH, %s://BUCKET/** for every object)", pattern, scheme, scheme))
	}
	if scheme != "gs" && scheme != "s3" && strings.Contains(pattern, "**") {
		return configs.Mistake(fmt.Errorf("pattern %q: ** is not supported on %s:// (its listing matches one folder level per *); name each level with *, or use gs:// or s3://", pattern, scheme))
	}
	return nil
}

// remoteObject is one object of a bucket listing: its full name, scheme
// and bucket included, and its size (-1 when the listing does not say).
type remoteObject struct {
	name string
	size int64
}

// prefixLister lists every object whose full name starts with prefix, at
// any depth. A bucket has no folders, so one listing by prefix holds the
// whole tree under it; the pattern is then matched here, by the matcher a
// local walk uses. Matching tests inject a fake.
type prefixLister interface {
	listPrefix(ctx context.Context, prefix string) ([]remoteObject, error)
}

// matchRemote lists a gs:// or s3:// pattern by its fixed prefix; any other
// scheme (memfs:// in tests) by its Beam filesystem's List, which globs.
func matchRemote(ctx context.Context, pattern, prefix string, re *regexp.Regexp) ([]transforms.FileRef, error) {
	if err := CheckPattern(pattern); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(pattern, "s3://"):
		// Beam's s3 filesystem builds its client the same way (the AWS
		// SDK's default chain), so listing and reading see the same
		// account and region.
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("matching %q: loading the AWS configuration: %w", pattern, err)
		}
		return listUnder(ctx, s3Lister{s3.NewFromConfig(cfg)}, pattern, prefix, re)
	case strings.HasPrefix(pattern, "gs://"):
		fsys, err := sinks.NewFS(ctx, pattern)
		if err != nil {
			return nil, err
		}
		defer fsys.Close()
		return listUnder(ctx, gcsLister{fsys}, pattern, prefix, re)
	}
	fsys, err := sinks.NewFS(ctx, pattern)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	names, err := fsys.List(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("matching %q: %w", pattern, err)
	}
	objs := make([]remoteObject, len(names))
	for i, n := range names {
		objs[i] = remoteObject{n, -1}
	}
	return remoteRefs(objs, prefix, re), nil
}

// listUnder lists everything under prefix with l and keeps what pattern
// (compiled as re) matches.
func listUnder(ctx context.Context, l prefixLister, pattern, prefix string, re *regexp.Regexp) ([]transforms.FileRef, error) {
	objs, err := l.listPrefix(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("matching %q: %w", pattern, err)
	}
	return remoteRefs(objs, prefix, re), nil
}

// remoteRefs keeps the objects that re matches; a name ending in '/' is a
// folder marker (consoles create them), never an input.
func remoteRefs(objs []remoteObject, prefix string, re *regexp.Regexp) []transforms.FileRef {
	var refs []transforms.FileRef
	for _, o := range objs {
		if strings.HasSuffix(o.name, "/") || !re.MatchString(o.name) {
			continue
		}
		refs = append(refs, transforms.FileRef{Source: o.name, Key: keyOf(o.name, prefix), Size: o.size})
	}
	return refs
}

// s3Lister lists an S3 bucket by prefix, page after page. Beam's s3 List
// cannot serve: it matches keys with filepath.Match, which has no **, so
// s3://bucket/raw/**/*.mp4 matched only raw/x/*.mp4. The sizes come with the
// listing, which saves the text pipeline a request per file.
type s3Lister struct{ client s3.ListObjectsV2APIClient }

func (l s3Lister) listPrefix(ctx context.Context, prefix string) ([]remoteObject, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(prefix, "s3://"), "/")
	p := s3.NewListObjectsV2Paginator(l.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	var objs []remoteObject
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", bucket, key, err)
		}
		for _, o := range page.Contents {
			size := int64(-1)
			if o.Size != nil {
				size = *o.Size
			}
			objs = append(objs, remoteObject{"s3://" + bucket + "/" + aws.ToString(o.Key), size})
		}
	}
	return objs, nil
}

// gcsLister lists a GCS bucket by prefix through Beam's gcs filesystem,
// whose List already recurses for PREFIX**: it lists the objects under the
// pattern's text before its first '*' and keeps those its regexp (** as .*)
// matches, which under a prefix free of wildcards is all of them. Its own
// use of a pattern is not exact: a ? or [ before the first * is taken as
// part of the listed prefix, so gs://b/cam[12]/*.mp4 listed nothing.
type gcsLister struct{ fsys sinks.FS }

func (l gcsLister) listPrefix(ctx context.Context, prefix string) ([]remoteObject, error) {
	names, err := l.fsys.List(ctx, prefix+"**")
	if err != nil {
		return nil, err
	}
	objs := make([]remoteObject, len(names))
	for i, n := range names {
		objs[i] = remoteObject{n, -1}
	}
	return objs, nil
}

func keyOf(name, prefix string) string {
	if prefix == "" || !strings.HasPrefix(name, prefix) || name == prefix {
		return path.Base(name)
	}
	if k := strings.TrimPrefix(name, prefix); k != "" {
		return k
	}
	return path.Base(name)
}

// globRegexp translates a glob into an anchored regexp: ** matches any
// characters including '/', "**/" also matches no folder at all, * and ?
// match within one path element, [...] is a character class. The (?s) flag
// lets ** match a newline, as * and ? do: a name may hold any byte but '/'.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("(?s)^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
				if i+1 < len(pattern) && pattern[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [")
			}
			class := pattern[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		case '\\':
			if i+1 < len(pattern) {
				i++
				i += literal(&b, pattern[i:]) - 1
			}
		default:
			i += literal(&b, pattern[i:]) - 1
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// literal writes the first character of s, quoted, and returns its length
// in bytes: a whole UTF-8 sequence, so that "données/*" matches its own
// folder (byte by byte, é would become two other characters).
func literal(b *strings.Builder, s string) int {
	_, n := utf8.DecodeRuneInString(s)
	b.WriteString(regexp.QuoteMeta(s[:n]))
	return n
}
