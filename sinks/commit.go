package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// How a run replaces a dataset without ever damaging the one already there
// (docs/reliability.md, "The commit"):
//
//	OUT/<dataset>/                        _manifest.json and the shards it names, nothing else
//	OUT/.pretext/lease.json               the one run allowed to write OUT (lease.go)
//	OUT/.pretext/runs/<run>/<ds>.staging  temporary files and staged shards of a run
//	OUT/.pretext/runs/<run>/<ds>/         the new dataset folder, built whole (local)
//	OUT/.pretext/runs/<run>/<ds>.journal  a swap in progress (local, without RENAME_EXCHANGE)
//	OUT/.pretext/runs/<run>/<ds>.old/     the replaced folder, until it is removed
//
// On a local filesystem the commit builds OUT/.pretext/runs/<run>/<ds>/ and
// exchanges it with OUT/<ds> in one renameat2(RENAME_EXCHANGE), so a reader
// sees the old folder or the new one; where the kernel or filesystem cannot
// exchange (NFS, non-Linux), it moves the old folder aside and the new one in,
// under a journal that the next run completes or rolls back. On object stores
// (gs://, s3://), which have no folders to rename, the new shards are
// published beside the old ones under names the old manifest does not use,
// the manifest is replaced in one object write, and the old shards are
// removed after it: readers that follow the manifest see one dataset or the
// other.

// PretextDir is OUT/.pretext, where a run keeps everything that is not a
// committed dataset.
func PretextDir(root string) string { return Join(root, ".pretext") }

// RunDir is OUT/.pretext/runs/<run>.
func RunDir(root, runID string) string { return Join(PretextDir(root), "runs/"+runID) }

// IsLocal reports whether name is a path of the local filesystem (no URI
// scheme), where folders can be renamed.
func IsLocal(name string) bool { return !strings.Contains(name, "://") }

// journal records a swap of dataset folders that is not one atomic step.
type journal struct {
	Final string `json:"final"` // OUT/<ds>
	Next  string `json:"next"`  // the new folder, complete with its manifest
	Old   string `json:"old"`   // where the old folder goes
}

// exchange atomically swaps two paths; errNoExchange where the kernel or the
// filesystem cannot. A variable so that tests can take the journal's path.
var exchange = func(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return errNoExchange
	}
	return err
}

var errNoExchange = errors.New("no atomic exchange here")

// swapMu orders this process's swaps and the removal of its run folder.
var swapMu sync.Mutex

// afterStep, when set by a test, is called after each step of a journaled
// swap; an error stops the swap there, as a crash would.
var afterStep func(step string) error

func step(name string) error {
	if afterStep != nil {
		return afterStep(name)
	}
	return nil
}

// swapIn makes next, a complete dataset folder, the folder final. The old
// folder, if any, ends at old (removed by the caller).
func swapIn(next, final, old, journalPath string) error {
	if _, err := os.Lstat(final); errors.Is(err, iofs.ErrNotExist) {
		return os.Rename(next, final)
	}
	switch err := exchange(next, final); {
	case err == nil:
		// next now holds the old folder.
		return os.Rename(next, old)
	case !errors.Is(err, errNoExchange):
		return err
	}
	j, err := json.Marshal(journal{Final: final, Next: next, Old: old})
	if err != nil {
		return err
	}
	if err := writeSynced(journalPath, j); err != nil {
		return err
	}
	if err := step("journal"); err != nil {
		return err
	}
	if err := os.Rename(final, old); err != nil {
		return err
	}
	if err := step("old aside"); err != nil {
		return err
	}
	if err := os.Rename(next, final); err != nil {
		return err
	}
	return step("new in")
}

// writeSynced writes a small file and syncs it and its folder, so that a
// journal on disk is complete before the renames it describes start.
func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(name)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// recoverJournal completes or rolls back the swap a journal describes: the
// new folder goes in if it is still complete beside a missing final folder,
// the old folder comes back if the new one is gone, and whatever was replaced
// is removed. It returns what it did, for the run's log.
func recoverJournal(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil || j.Final == "" || j.Next == "" || j.Old == "" {
		// A journal is synced before any rename: one that does not parse
		// was cut short while it was written, so nothing was moved.
		return "removed an unfinished journal " + name, os.Remove(name)
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	var did string
	switch {
	case exists(j.Final):
		did = "the swap into " + j.Final + " had completed or not begun"
	case exists(j.Next):
		if err := os.Rename(j.Next, j.Final); err != nil {
			return "", err
		}
		did = "completed the interrupted swap: the new " + j.Final + " is in place"
	case exists(j.Old):
		if err := os.Rename(j.Old, j.Final); err != nil {
			return "", err
		}
		did = "rolled back the interrupted swap: the previous " + j.Final + " is back"
	default:
		return "", fmt.Errorf("sinks: journal %s: neither %s, %s nor %s exists", name, j.Final, j.Next, j.Old)
	}
	// Only the run folder's leftovers remain; Recover removes the folder.
	if err := os.RemoveAll(j.Old); err != nil {
		return "", err
	}
	return did, os.Remove(name)
}

// Recover prepares OUT for a run that holds its lease: it completes or
// rolls back the swaps that interrupted runs left (their journals) and
// removes every run folder under OUT/.pretext/runs (staging of failed,
// killed or interrupted runs, which no live run can own while the lease is
// held), so a rerun after a full disk has its space back. It returns one
// line per thing it did.
func Recover(ctx context.Context, root string) ([]string, error) {
	runs := Join(PretextDir(root), "runs")
	var did []string
	if IsLocal(root) {
		journals, err := filepath.Glob(filepath.Join(runs, "*", "*.journal"))
		if err != nil {
			return nil, err
		}
		sort.Strings(journals)
		for _, j := range journals {
			d, err := recoverJournal(j)
			if err != nil {
				return did, fmt.Errorf("sinks: recovering %s: %w", j, err)
			}
			did = append(did, d)
		}
		entries, err := os.ReadDir(runs)
		if err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return did, err
		}
		for _, e := range entries {
			p := filepath.Join(runs, e.Name())
			if err := os.RemoveAll(p); err != nil {
				return did, fmt.Errorf("sinks: removing what run %s left: %w", e.Name(), err)
			}
			did = append(did, "removed what run "+e.Name()+" left in "+p)
		}
		return did, nil
	}
	fs, err := NewFS(ctx, root)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	entries, err := listDeepestFirst(ctx, fs, runs)
	if err != nil {
		return nil, err
	}
	dead := map[string]int{}
	for _, f := range entries {
		run, _, _ := strings.Cut(strings.TrimPrefix(f, runs+"/"), "/")
		if run == "" {
			continue
		}
		if err := removeObject(ctx, fs, f); err != nil {
			return did, err
		}
		dead[run]++
	}
	for _, run := range sortedKeys(dead) {
		did = append(did, fmt.Sprintf("removed %d objects that run %s left in %s", dead[run], run, Join(runs, run)))
	}
	return did, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func removeObject(ctx context.Context, fs FS, name string) error {
	rm, ok := fs.(Remover)
	if !ok {
		return fmt.Errorf("sinks: the filesystem of %s cannot remove files", name)
	}
	if err := rm.Remove(ctx, name); err != nil {
		return fmt.Errorf("sinks: removing %s: %w", name, err)
	}
	return nil
}

// RemoveRun removes the run's own folder, OUT/.pretext/runs/<run>: what is
// left of a run that ends without committing, or after it did.
func RemoveRun(ctx context.Context, root, runID string) error {
	dir := RunDir(root, runID)
	if IsLocal(root) {
		swapMu.Lock()
		defer swapMu.Unlock()
		return os.RemoveAll(dir)
	}
	fs, err := NewFS(ctx, root)
	if err != nil {
		return err
	}
	defer fs.Close()
	entries, err := listDeepestFirst(ctx, fs, dir)
	if err != nil {
		return err
	}
	for _, f := range entries {
		if err := removeObject(ctx, fs, f); err != nil {
			return err
		}
	}
	return nil
}

// listDeepestFirst lists what is under dir, three levels deep (enough for
// OUT/.pretext/runs/<run>/<task>.staging/<file>), files before the folders
// that hold them where the store has folders.
func listDeepestFirst(ctx context.Context, fs FS, dir string) ([]string, error) {
	var all []string
	for _, g := range []string{"*/*/*", "*/*", "*"} {
		found, err := fs.List(ctx, Join(dir, g))
		if err != nil {
			return nil, err
		}
		all = append(all, found...)
	}
	return all, nil
}

// committed reports whether the dataset folder already holds exactly the
// manifest data: a retried commit whose first attempt got through.
func committed(ctx context.Context, fs FS, c Commit, data []byte) bool {
	r, err := fs.OpenRead(ctx, c.ManifestPath())
	if err != nil {
		return false
	}
	defer r.Close()
	cur, err := io.ReadAll(io.LimitReader(r, int64(len(data))+1))
	return err == nil && bytes.Equal(cur, data)
}

// commitLocal builds the new dataset folder from the staged shards and
// swaps it in (see the top of this file).
func commitLocal(ctx context.Context, fs FS, c Commit, shards []StagedShard, names []string, data []byte) error {
	next, final := c.NextDir(), c.Dir
	if committed(ctx, fs, c, data) && !anyStaged(ctx, fs, shards) {
		return nil
	}
	if err := os.MkdirAll(next, 0o755); err != nil {
		return fmt.Errorf("sinks: %w", err)
	}
	for k, name := range names {
		if err := publish(ctx, fs, shards[k], Join(next, name)); err != nil {
			return fmt.Errorf("sinks: publishing %s: %w", name, err)
		}
	}
	tmp := Join(next, "."+ManifestName+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("sinks: writing manifest: %w", err)
	}
	if err := os.Rename(tmp, Join(next, ManifestName)); err != nil {
		return fmt.Errorf("sinks: writing manifest: %w", err)
	}
	if err := CheckLease(ctx, c.Root(), c.RunID); err != nil {
		return err
	}
	if err := os.MkdirAll(parentOf(final), 0o755); err != nil {
		return fmt.Errorf("sinks: %w", err)
	}
	old := next + ".old"
	// RemoveRun (a signalled run's release) waits for a swap in progress:
	// removing the run folder between a journaled swap's two renames would
	// take the old folder and the new one with it.
	swapMu.Lock()
	defer swapMu.Unlock()
	if err := swapIn(next, final, old, next+".journal"); err != nil {
		return fmt.Errorf("sinks: putting the new %s in place: %w", final, err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("sinks: removing the replaced %s: %w", final, err)
	}
	if err := os.Remove(next + ".journal"); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(c.StagingDir())
}

// anyStaged reports whether a staged shard is still in staging.
func anyStaged(ctx context.Context, fs FS, shards []StagedShard) bool {
	for _, sh := range shards {
		if found, err := fs.List(ctx, sh.Staged); err != nil || len(found) > 0 {
			return true
		}
	}
	return false
}

// altShardName is shard k's name on an object store when the committed
// manifest already uses ShardName(k): the run id tells the two apart.
func (d Dataset) altShardName(k int) string {
	return Join(d.Dir, fmt.Sprintf("%s-%05d-of-%05d.%s.parquet", d.Name, k, d.NumShards, d.RunID))
}

// objectShardNames names the new shards on an object store: the plain
// names, except those the committed manifest (prev, or nil) lists, which
// would change bytes a reader of the old dataset is reading.
func objectShardNames(c Commit, prev *Manifest) []string {
	used := map[string]bool{}
	if prev != nil {
		for _, sh := range prev.Shards {
			used[sh.Path] = true
		}
	}
	names := make([]string, c.NumShards)
	for k := range names {
		names[k] = path.Base(c.ShardName(k))
		if used[names[k]] {
			names[k] = path.Base(c.altShardName(k))
		}
	}
	return names
}

// commitObjects publishes the new shards beside the old ones, replaces the
// manifest in one object write and removes the old shards and this run's
// staging (see the top of this file).
func commitObjects(ctx context.Context, fs FS, c Commit, shards []StagedShard, names []string, prev *Manifest, data []byte) error {
	if !committed(ctx, fs, c, data) {
		for k, name := range names {
			dst := Join(c.Dir, name)
			if err := publish(ctx, fs, shards[k], dst); err != nil {
				return fmt.Errorf("sinks: publishing %s: %w", dst, err)
			}
		}
		if err := CheckLease(ctx, c.Root(), c.RunID); err != nil {
			return err
		}
		// Written under a hidden name and moved, so a reader never sees half
		// a manifest (an object store's copy replaces an object whole).
		tmp := Join(c.Dir, "."+ManifestName+"."+c.RunID+".tmp")
		if err := WriteFile(ctx, fs, tmp, data); err != nil {
			return fmt.Errorf("sinks: writing manifest: %w", err)
		}
		if err := RenameFile(ctx, fs, tmp, c.ManifestPath()); err != nil {
			return fmt.Errorf("sinks: publishing manifest: %w", err)
		}
	}
	keep := map[string]bool{c.ManifestPath(): true}
	for _, name := range names {
		keep[Join(c.Dir, name)] = true
	}
	// The old dataset's shards (listed by its manifest or not: an earlier
	// num_shards), and staging folders that runs of pretext before
	// OUT/.pretext left in the dataset folder.
	var stale []string
	for _, glob := range []string{Join(c.Dir, c.Name+"-*-of-*.parquet"), Join(c.Dir, ".staging-*/*"), Join(c.StagingDir(), "*")} {
		found, err := fs.List(ctx, glob)
		if err != nil {
			return fmt.Errorf("sinks: listing %s: %w", glob, err)
		}
		for _, f := range found {
			if !keep[f] {
				stale = append(stale, f)
			}
		}
	}
	if prev != nil {
		for _, sh := range prev.Shards {
			if f := Join(c.Dir, sh.Path); !keep[f] && PlainShardPath(sh.Path) {
				stale = append(stale, f)
			}
		}
	}
	sort.Strings(stale)
	stale = compactStrings(stale)
	for _, f := range stale {
		if found, err := fs.List(ctx, f); err == nil && len(found) == 0 {
			continue
		}
		if err := removeObject(ctx, fs, f); err != nil {
			return err
		}
	}
	return nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
