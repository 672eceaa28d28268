#!/usr/bin/env bash
# Parser throughput on a pgbench stream recorded by pg_recvlogical from a
# throwaway cluster (see bench/ParserBench/main.swift). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap >/dev/null
swift build -c release --product parser-bench >/dev/null
exec "$(swift build -c release --show-bin-path)/parser-bench" "$@"
