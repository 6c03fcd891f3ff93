// Package configs holds pretext's run configuration: the typed structs, their
// defaults, strict YAML loading (unknown keys are errors) and validation that
// names every bad field by its path. Each task's own section is decoded into
// the config type that the task registered (package transforms), so adding a
// task adds no code here. The shipped YAML files live beside this package.
package configs
