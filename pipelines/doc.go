// Package pipelines holds pretext's Beam pipeline constructors, one per
// modality. They wire read → decode → transforms → sinks and nothing else;
// they read no flags or environment: everything comes from a validated
// configs.Config.
package pipelines
