package transforms

// FileRef is an input file as it travels through a pipeline: a reference, never
// its bytes, so that shuffles move names and workers read the data themselves.
type FileRef struct {
	// Source is the file's full path or URI.
	Source string
	// Key is the path relative to the fixed prefix of the input pattern: stable
	// across machines and output folders, and the key of every row made from it.
	Key string
	// Size is the file's size in bytes as listed (-1 if unknown).
	Size int64
}
