#!/usr/bin/env bash
# The Merkle tree on a large store: building it for N events already there
# (what `walaudit setup` does once for a store older than the tree), then
# proofs: `walaudit prove` end to end, and the SQL inclusion and
# consistency proofs; then tree-bench (in memory: the verifier's share per
# event and 10,000 checkpoints' roots and consistency proofs).
#
# The events are inserted straight into walaudit.event_log with distinct
# stand-in hashes (the chain does not verify; this measures the tree).
#
#   bench/proofs.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
swift build -c release --product tree-bench >/dev/null
bin_path="$(swift build -c release --show-bin-path)"
walaudit="$bin_path/walaudit"
source bench/cluster.sh
start_cluster proofs fsync=off max_wal_size=8GB shared_buffers=256MB

"$walaudit" setup --source "$conn" --slot proofs >/dev/null
start=$(date +%s)
psql -c "
INSERT INTO walaudit.event_log (seq, event_time, operation, schema_name, table_name, changed_columns, db_user, role_name,
    row_key, new_row, payload_salt, payload_digest, prev_hash, hash)
SELECT s, timestamptz '2026-01-01 00:00+00' + (s * interval '864 milliseconds'), 'UPDATE', 'public', 't',
       '{v}', 'app', 'app', jsonb_build_object('id', s), jsonb_build_object('id', s), '\x00', '\x00', '\x00', sha256(s::text::bytea)
FROM generate_series(1, $events) s"
psql -c "VACUUM ANALYZE walaudit.event_log"
echo "proofs-bench: $(nproc) cores, $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1048576)) GiB; $events events loaded in $(( $(date +%s) - start )) s"

start_ns=$(date +%s%N)
nodes=$(psql -At -c "SELECT walaudit.tree_extend()")
build_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
echo "  building the tree of a store older than it (walaudit setup does this once): $nodes nodes for $events events in $build_ms ms ($(( events / (build_ms / 1000 + 1) )) events/s)"

# A signed tree checkpoint of the whole store, by a worker run briefly.
"$walaudit" keygen --out "$dir/key" --origin example.com/proofs-bench >/dev/null
"$walaudit" run --source "$conn" --slot proofs --checkpoint-dir "$dir/checkpoints" --signing-key "$dir/key" \
    --checkpoint-interval 0.5 2>"$dir/worker.log" &
worker=$!
for _ in $(seq 1 100); do [ -s "$dir/checkpoints/checkpoints.jsonl" ] && break; sleep 0.2; done
kill -TERM $worker; wait $worker || true

# Median of 5, in milliseconds.
median() { sort -n | sed -n 3p; }
start_ms=$(for _ in 1 2 3 4 5; do
    start_ns=$(date +%s%N); "$walaudit" --help >/dev/null; echo $(( ($(date +%s%N) - start_ns) / 1000000 ))
done | median)
prove_ms=$(for seq in 1 $((events / 4)) $((events / 2)) $((events * 3 / 4)) $events; do
    start_ns=$(date +%s%N)
    "$walaudit" prove "$seq" --source "$conn" --slot proofs --out "$dir/p.tlog-proof"
    echo $(( ($(date +%s%N) - start_ns) / 1000000 ))
done | median)
"$walaudit" verify --proof "$dir/p.tlog-proof" --public-key "$dir/key.pub" >/dev/null
timed() {
    for _ in 1 2 3 4 5; do
        command psql "$conn" -X -q -c '\timing on' -c "$1" | awk '/^Time:/ {print $2}'
    done | median
}
echo "  walaudit prove, end to end (process start, connection, proof, file): $prove_ms ms (median of 5 seqs; starting the process alone, walaudit --help: $start_ms ms); the proof verifies"
echo "  SQL walaudit.inclusion_proof($((events / 2))): $(timed "SELECT cardinality(walaudit.inclusion_proof($((events / 2))))") ms; consistency_proof($((events / 3)), $events): $(timed "SELECT cardinality(walaudit.consistency_proof($((events / 3))))") ms; tree_root(): $(timed "SELECT walaudit.tree_root()") ms (medians of 5)"
"$bin_path/tree-bench" --events "$events" --checkpoints 10000 | sed 's/^/  /'
