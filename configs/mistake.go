package configs

import (
	"errors"
	"io/fs"
)

// Exit codes of every pretext subcommand. A script can tell a user's mistake
// (fix the command and run again) from a failure of the machine or of
// pretext (report it, or retry), and an interrupted run from both.
const (
	ExitOK          = 0   // success
	ExitFailure     = 1   // an internal failure, or a check that did not pass
	ExitMistake     = 2   // a bad flag, config value or path
	ExitInterrupted = 130 // SIGINT (128 + 2)
	ExitTerminated  = 143 // SIGTERM (128 + 15)
)

// Mistake marks err as the user's: a bad flag, config value or path, which
// the user fixes by changing the command. pretext exits with ExitMistake on
// it. Mistake(nil) is nil.
func Mistake(err error) error {
	if err == nil {
		return nil
	}
	return &mistakeError{err}
}

type mistakeError struct{ err error }

func (e *mistakeError) Error() string { return e.err.Error() }
func (e *mistakeError) Unwrap() error { return e.err }

// IsMistake reports whether err is the user's to fix: marked by Mistake, or
// a path that does not exist (every path pretext opens without creating it
// was given by the user: a config, an input, a vocab, a dataset folder).
func IsMistake(err error) bool {
	var m *mistakeError
	return errors.As(err, &m) || errors.Is(err, fs.ErrNotExist)
}

// ExitCode is the exit status for err: ExitOK for nil, ExitMistake for a
// user's mistake, ExitFailure otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case IsMistake(err):
		return ExitMistake
	}
	return ExitFailure
}
