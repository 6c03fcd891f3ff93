#!/usr/bin/env bash
# Installs what the tests need, then runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
go vet ./...
go test -count=1 -timeout 30m "$@" ./...
