// Package transforms holds the registry of pretext tasks. Each task registers
// itself once, from the file that implements it (transforms/vision/colorize.go
// and its siblings), with its name, modality, row type, config type and the
// modality-specific implementation; the CLI, the pipelines and the sinks find
// every task here, so adding a task edits no other file by hand.
//
// The modality packages below it (vision, and later text, audio, av) hold the
// pseudo-label logic as plain functions on plain values plus thin DoFns.
package transforms
