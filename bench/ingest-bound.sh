#!/usr/bin/env bash
# How fast ingest could be if walaudit did less than PRODUCT.md requires:
# the checked-out code is built as is and in three reduced variants, and
# each variant drains the same backlog as the code as built, in
# alternation (bench/ingest-ab.sh), with pg_recvlogical decoding it
# between runs. Reduced variants, never for use (built in a scratch copy
# of the checkout, removed on exit):
#
#   no chain hashing   Chain.append hashes nothing: the payload digest and
#                      the event hash are 32 zero bytes (no canonical
#                      encoding, no SHA-256)
#   no row images      old_row and new_row are sent as NULL in the COPY
#                      (the worker still builds them but writes no JSON
#                      text for them; the store never parses or stores them)
#   neither            both at once
#
#   bench/ingest-bound.sh [REPS] [TRANSACTIONS]      (default 3 20000: 320k changes)
#
# Per run: the drain's wall time (bench/ingest-ab.sh) and its ratio to the
# mean of the two pg_recvlogical runs beside it (the rate ratio PRODUCT.md
# §7 sets at >= 0.5); per variant, the median of its runs' ratios and of
# the code as built's runs in the same cluster. The code as built is
# built in the scratch copy too, with the same resolved dependencies, so
# the binaries differ by the patches alone. Each ingest-ab.sh output is
# printed whole (and kept in bench/out/ingest-bound-VARIANT.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
source bench/cluster.sh  # median
reps=${1:-3}
transactions=${2:-20000}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null  # resolves the dependencies copied below
scratch=$(mktemp -d /tmp/walaudit-ingest-bound-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$scratch"
cp Package.resolved "$scratch/"
mkdir "$scratch/.build"
cp -r .build/checkouts .build/repositories .build/workspace-state.json "$scratch/.build/"  # the dependencies' sources, resolved
# (its objects are not reused: compiled modules record their build path)

# Replaces one exact text in a file of the scratch copy; fails if it is not there once.
patch_once() {
    python3 - "$scratch/$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"ingest-bound: the text to replace is not in {path} exactly once; update bench/ingest-bound.sh")
open(path, "w").write(text.replace(old, new))
EOF
}
no_chain_hashing() {
    patch_once Sources/Ledger/Chain.swift 'let digest = workspace.digest { Self.encodePayload(of: chained, into: &$0) }' 'let digest = Chain.genesisHash'
    patch_once Sources/Ledger/Chain.swift 'let hash = workspace.digest { Self.encodeHashed(chained, into: &$0) }' 'let hash = Chain.genesisHash'
}
no_row_images() {
    patch_once Sources/AuditStore/EventStore.swift 'case (.jsonb, .json(let v)): buffer.jsonb { v.write(to: &$0) }' \
        'case (.jsonb, .json(let v)): if field == .oldRow || field == .newRow { buffer.null() } else { buffer.jsonb { v.write(to: &$0) } }'
}
build_variant() {
    (cd "$scratch" && swift build -c release --product walaudit >/dev/null)
    cp "$scratch/.build/release/walaudit" "$scratch/walaudit-$1"
}
# Puts the checkout's sources back into the scratch copy.
restore() { git -C "$repo" ls-files -z Sources | (cd "$repo" && xargs -0 cp --parents -t "$scratch"); }

build_variant as-built
no_chain_hashing; build_variant no-chain-hashing; restore
no_row_images; build_variant no-row-images; restore
no_chain_hashing; no_row_images; build_variant neither; restore

# Ratio of each run to the mean of the pg_recvlogical runs before and after
# it (unrounded); fails if a run has no pg_recvlogical run after it.
ratios() {
    awk '/pg_recvlogical:/ { r = $2; if (pending != "") { split(pending, p, " "); print p[1], (p[3] + r) / 2 / p[2]; pending = "" } last = r; next }
         /binary [12]:/ { sub(":", "", $2); pending = $2 " " $3 " " last }
         END { if (pending != "") { print "ingest-bound: a run without a pg_recvlogical run after it" > "/dev/stderr"; exit 1 } }'
}
rounded() { awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }'; }
mkdir -p bench/out
summary="ingest bound: $((transactions * 16)) changes, $reps runs each, alternating with the code as built; ratio = walaudit's rate / pg_recvlogical's"
for variant in no-chain-hashing no-row-images neither; do
    bench/ingest-ab.sh "$scratch/walaudit-as-built" "$scratch/walaudit-$variant" "$reps" "$transactions" | tee "bench/out/ingest-bound-$variant.txt"
    pairs=$(ratios < "bench/out/ingest-bound-$variant.txt")
    as_built=$(awk '$1 == 1 { print $2 }' <<<"$pairs")
    reduced=$(awk '$1 == 2 { print $2 }' <<<"$pairs")
    if [ "$(wc -w <<<"$as_built")" -ne "$reps" ] || [ "$(wc -w <<<"$reduced")" -ne "$reps" ]; then
        echo "ingest-bound: expected $reps runs of each binary in bench/ingest-ab.sh's output" >&2
        exit 1
    fi
    summary+=$'\n'$(printf '  %-18s %.2f (%s); as built beside it %.2f (%s)' "$variant" "$(median <<<"$reduced")" "$(rounded <<<"$reduced")" \
        "$(median <<<"$as_built")" "$(rounded <<<"$as_built")")
done
echo "$summary"
