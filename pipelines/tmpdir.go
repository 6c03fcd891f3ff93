package pipelines

import "os"

// PrivateTemp gives the rest of the process a temporary folder of its own,
// made inside the current one (TMPDIR), and returns the function that
// removes it and restores TMPDIR. A local Beam run (prism, LOOPBACK
// workers) leaves an empty beamloopbackworker-* file in the temporary
// folder every time — Beam 2.77's runnerlib.Execute makes it as a stand-in
// worker binary and never removes it — so a machine that runs pretext
// often collects thousands. Whatever a run puts in the temporary folder
// (that file, the workers' spools) now goes with the folder when the
// command ends. `pretext run` and `pretext vocab` call it, and so do this
// package's tests. If the folder cannot be made, nothing changes.
func PrivateTemp() (cleanup func()) {
	dir, err := os.MkdirTemp("", "pretext-run-*")
	if err != nil {
		return func() {}
	}
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", dir)
	return func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
		os.RemoveAll(dir)
	}
}
