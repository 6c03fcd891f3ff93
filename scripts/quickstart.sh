#!/usr/bin/env bash
# Runs the quickstart (all three image tasks on the committed fixtures, local
# runner) into out/quickstart; extra arguments go to `pretext run`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "quickstart: Go is not installed (need go1.26+)" >&2; exit 1; }
go run ./cmd/pretext run --config configs/quickstart.yaml --output out/quickstart "$@"
