package sinks

// Version is pretext's version, written into every shard's footer and manifest.
// It is a constant rather than a build stamp so that the same code writes the
// same bytes whatever machine built it.
const Version = "0.1.0"
