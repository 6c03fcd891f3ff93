package pipelines

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

func init() {
	register.DoFn4x1[context.Context, string, func(transforms.FileRef), func(string), error](&matchFn{})
	register.Emitter1[transforms.FileRef]()
	register.Emitter1[string]()
}

// Match expands a file pattern into file references, sorted by key and cut to
// the first limit (0 = all). ** matches across folders on every filesystem
// (Beam's local filesystem globs without it, so local patterns are walked
// here); * and ? stay within one folder.
//
// It expects PCollection<string> of patterns and returns
// PCollection<transforms.FileRef> plus PCollection<string> of outcomes (one
// sinks.OutcomeInput per reference).
func Match(s beam.Scope, patterns beam.PCollection, limit int) (refs, outcomes beam.PCollection) {
	s = s.Scope("pipelines.Match")
	return beam.ParDo2(s, &matchFn{Limit: limit}, patterns)
}

type matchFn struct {
	Limit int
}

func (f *matchFn) ProcessElement(ctx context.Context, pattern string, emit func(transforms.FileRef), outcome func(string)) error {
	refs, err := MatchFiles(ctx, pattern, f.Limit)
	if err != nil {
		return err
	}
	for _, r := range refs {
		transforms.Live.Matched.Add(1)
		emit(r)
		outcome(sinks.OutcomeInput)
	}
	return nil
}

// MatchFiles lists the files matching pattern, sorted by key, at most limit
// of them (0 = all). Folders are never returned.
func MatchFiles(ctx context.Context, pattern string, limit int) ([]transforms.FileRef, error) {
	prefix := FixedPrefix(pattern)
	re, err := globRegexp(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	var refs []transforms.FileRef
	if !strings.Contains(pattern, "://") {
		refs, err = walkLocal(pattern, prefix, re)
	} else {
		refs, err = listRemote(ctx, pattern, prefix, re)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
	if limit > 0 && len(refs) > limit {
		refs = refs[:limit]
	}
	return refs, nil
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

func walkLocal(pattern, prefix string, re *regexp.Regexp) ([]transforms.FileRef, error) {
	root := prefix
	if root == "" {
		root = "."
	}
	var refs []transforms.FileRef
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // an unreadable subfolder is skipped, not fatal
		}
		if d.IsDir() {
			return nil
		}
		rel := p
		if root == "." {
			rel = path.Clean(p)
		} else {
			rel = filepath.ToSlash(prefix + strings.TrimPrefix(p, filepath.Clean(root)+string(filepath.Separator)))
		}
		if !re.MatchString(rel) {
			return nil
		}
		var size int64 = -1
		if info, err := d.Info(); err == nil {
			size = info.Size()
		}
		refs = append(refs, transforms.FileRef{Source: p, Key: keyOf(rel, prefix), Size: size})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("matching %q: %w", pattern, err)
	}
	return refs, nil
}

func listRemote(ctx context.Context, pattern, prefix string, re *regexp.Regexp) ([]transforms.FileRef, error) {
	fsys, err := filesystem.New(ctx, pattern)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	names, err := fsys.List(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("matching %q: %w", pattern, err)
	}
	var refs []transforms.FileRef
	for _, n := range names {
		if strings.HasSuffix(n, "/") || !re.MatchString(n) {
			continue
		}
		refs = append(refs, transforms.FileRef{Source: n, Key: keyOf(n, prefix), Size: -1})
	}
	return refs, nil
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
// match within one path element, [...] is a character class.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
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
				b.WriteString(regexp.QuoteMeta(string(pattern[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
