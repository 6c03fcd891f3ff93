#!/usr/bin/env bash
# Installs what the tests need, then runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
unformatted=$(gofmt -l cmd configs pipelines sinks transforms trainer inspect bench)
[ -z "$unformatted" ] || { echo "gofmt needed: $unformatted" >&2; exit 1; }
go vet ./...
go test -count=1 -timeout 30m "$@" ./...
