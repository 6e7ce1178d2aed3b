#!/usr/bin/env bash
# compare-decode.sh — tritium's decoders side by side with the peers
# (mesos-go, Python protobuf upb / pure Python, stdlib json, orjson) on the
# same generated event stream, in one run:
#
#   1. builds tritium-bench in release;
#   2. generates the stream with shared/bench-peers/gen_stream.py (the file
#      the peers are built around), cached under bench/gen/;
#   3. runs shared/bench-peers/run_peers.sh on it with
#      TRITIUM_DECODE_CMD="<target>/release/tritium-bench decode --reps $REPS",
#      so every peer and tritium's three variants (tritium-view,
#      tritium-prost, tritium-framing) print one line each;
#   4. prints tritium-view's offers/s ratio against every other line as
#      `# ratio tritium-view/<peer>=X.XX`.
#
# Prerequisites are installed when missing: run_peers.sh calls its setup.sh
# (apt: golang-go, protobuf-compiler, libprotobuf-dev, the mesos-go and gogo
# protobuf Debian packages; pip: protobuf); orjson is pip-installed here
# (the peer list includes python-orjson).
#
# Environment knobs:
#   REPS=9               timed repetitions per fast peer (after one warm-up)
#   SKIP_PURE_PYTHON=1   skip the ~20-40 s pure-Python protobuf peer
#   AGENTS=10000 EVENTS=1800 OFFERS_PER_EVENT=50 SEED=1
#                        stream parameters (gen_stream.py's defaults)
#   GENERATOR=python     or `tritium` to generate with `tritium-bench gen`
#                        (same distribution, not the same bytes)
#   BENCH_PEERS=DIR      where bench-peers lives (default: ../shared/bench-peers
#                        next to the repository)
#   PYTHON=python3       the Python the peers and gen_stream.py use
#   JSON_FILE=FILE       the JSON twin of the stream (default bench/gen/json/...)
#   RESULTS=FILE         also keep the raw peer lines in FILE
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEERS="${BENCH_PEERS:-$ROOT/../shared/bench-peers}"
PY="${PYTHON:-python3}"
export PYTHON="$PY"
REPS="${REPS:-9}"
AGENTS="${AGENTS:-10000}"
EVENTS="${EVENTS:-1800}"
OFFERS_PER_EVENT="${OFFERS_PER_EVENT:-50}"
SEED="${SEED:-1}"
GENERATOR="${GENERATOR:-python}"

if [ ! -f "$PEERS/run_peers.sh" ]; then
  echo "compare-decode: no run_peers.sh under $PEERS (set BENCH_PEERS)" >&2
  exit 2
fi
PEERS="$(cd "$PEERS" && pwd)"

# ---- prerequisites (setup.sh is idempotent; run_peers.sh calls it too when
# something is missing, but gen_stream.py needs the Python side first)
if ! command -v go >/dev/null || ! command -v protoc >/dev/null \
   || ! "$PY" -c 'import google.protobuf' 2>/dev/null; then
  bash "$PEERS/setup.sh"
fi
if ! "$PY" -c 'import orjson' 2>/dev/null; then
  echo "# compare-decode: pip install orjson" >&2
  "$PY" -m pip install -q orjson >&2 || echo "# orjson could not be installed: python-orjson is skipped" >&2
fi

# ---- tritium-bench, release
echo "# compare-decode: cargo build --release -p tritium-bench" >&2
(cd "$ROOT" && cargo build --release --quiet -p tritium-bench --bin tritium-bench)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
BIN="$TARGET/release/tritium-bench"
[ -x "$BIN" ] || { echo "compare-decode: $BIN not built" >&2; exit 1; }

# ---- the stream (cached; bench/gen/ is gitignored)
NAME="a${AGENTS}-e${EVENTS}-k${OFFERS_PER_EVENT}-s${SEED}"
mkdir -p "$HERE/gen"
if [ "$GENERATOR" = tritium ]; then
  FILE="$HERE/gen/tritium-$NAME.rio"
  if [ ! -f "$FILE" ] || [ "$BIN" -nt "$FILE" ]; then
    "$BIN" gen --agents "$AGENTS" --events "$EVENTS" --offers-per-event "$OFFERS_PER_EVENT" \
      --seed "$SEED" --out "$FILE"
  fi
else
  FILE="$HERE/gen/py-$NAME.rio"
  if [ ! -f "$FILE" ] || [ "$PEERS/gen_stream.py" -nt "$FILE" ]; then
    echo "# compare-decode: generating $(basename "$FILE") with gen_stream.py" >&2
    "$PY" "$PEERS/gen_stream.py" --agents "$AGENTS" --events "$EVENTS" \
      --offers-per-event "$OFFERS_PER_EVENT" --seed "$SEED" --format protobuf --out "$FILE"
  fi
fi
if [ -f "$FILE.meta.json" ]; then
  echo "# stream: $(tr -d '\n' < "$FILE.meta.json" | tr -s ' ')" >&2
fi

# ---- every peer and tritium, same file, same run
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
echo "# machine: nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')\" $(rustc --version) loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" >&2
# The JSON twin (~2.3x the stream) is kept next to the stream, in bench/gen/,
# rather than in run_peers.sh's default location under shared/.
JSON_FILE="${JSON_FILE:-$HERE/gen/json/$(basename "$FILE").json}"
REPS="$REPS" JSON_FILE="$JSON_FILE" TRITIUM_DECODE_CMD="$BIN decode --reps $REPS" \
  bash "$PEERS/run_peers.sh" "$FILE" | tee "$OUT"
if [ -n "${RESULTS:-}" ]; then
  cp "$OUT" "$RESULTS"
fi

# ---- tritium-view against every other line (offers per second)
awk '
  { delete v
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (v["peer"] == "") next
    n++; name[n] = v["peer"]; ops[n] = v["offers_per_s"]
    if (v["peer"] == "tritium-view") view = v["offers_per_s"] }
  END {
    if (view == "") { print "# compare-decode: no tritium-view line" > "/dev/stderr"; exit 1 }
    for (i = 1; i <= n; i++)
      if (name[i] != "tritium-view" && ops[i] > 0)
        printf "# ratio tritium-view/%s=%.2f\n", name[i], view / ops[i]
  }
' "$OUT"
