package transforms

import "sync/atomic"

// Progress counts work done in this process. Beam's metrics reach the launcher
// only when a job ends, so a local run (prism in-process, loopback workers)
// reads these to show progress while it runs; on a distributed runner the
// workers' counts stay on the workers and the launcher shows none.
type Progress struct {
	Matched     atomic.Int64 // inputs listed
	Inputs      atomic.Int64 // inputs whose outcome is decided
	Rows        atomic.Int64 // rows handed to the sinks
	DeadLetters atomic.Int64
	Filtered    atomic.Int64
	Shards      atomic.Int64 // shards merged
}

// Live is this process's progress.
var Live Progress
