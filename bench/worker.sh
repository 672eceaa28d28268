#!/usr/bin/env bash
# Worker memory (one 1M-row transaction) and ingest vs pg_recvlogical, in one
# run on one throwaway cluster (see bench/WorkerBench/main.swift). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
swift build -c release --product worker-bench >/dev/null
exec "$(swift build -c release --show-bin-path)/worker-bench" "$@"
