#!/usr/bin/env bash
# compare-e2e.sh — tritium vs pymesos, end to end, on the same simulated
# cluster: each launches the same TASKS tasks (0.1 cpu, 32 MB, a command) on
# a fresh `tritium-sim` process with the same AGENTS, SEED and offer
# interval, and reports how fast they are all RUNNING (acknowledged).
#
#   bash bench/compare-e2e.sh            # 10,000 tasks on 1,000 agents, 3 rounds
#   ROUNDS=5 TASKS=2000 bash bench/compare-e2e.sh
#
# Each round runs tritium then pymesos, each against its own new simulator
# (same flags), and prints both lines and tritium's ratio; the last lines
# are the min / median / max ratio over the rounds.
#
# Knobs: AGENTS (1000), TASKS (10000), SEED (1), OFFER_INTERVAL (0.1 s),
# ROUNDS (3), PORT (15150: the simulator's port), TIMEOUT (900 s per run),
# RESULTS=FILE (keep the raw lines).
#
# Needs: cargo, python3 with venv. pymesos is installed if missing into a
# venv under target/pymesos-venv: its dependency http-parser 0.9.0 is built
# from its source distribution with the C extension switched off (the C
# part no longer compiles on Python 3.11; the package has a pure-Python
# parser, which pymesos uses), then `pip install pymesos`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
AGENTS="${AGENTS:-1000}"
TASKS="${TASKS:-10000}"
SEED="${SEED:-1}"
OFFER_INTERVAL="${OFFER_INTERVAL:-0.1}"
ROUNDS="${ROUNDS:-3}"
PORT="${PORT:-15150}"
TIMEOUT="${TIMEOUT:-900}"
VENV="$ROOT/target/pymesos-venv"
PY="$VENV/bin/python"

# ---- pymesos
if ! "$PY" -c 'import pymesos, http_parser.http' 2>/dev/null; then
  echo "# installing pymesos into $VENV" >&2
  python3 -m venv "$VENV"
  tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --no-deps --no-binary :all: http-parser==0.9.0 -d "$tmp"
  tar xzf "$tmp"/http-parser-0.9.0.tar.gz -C "$tmp"
  # setup.py builds the C extension unless told it runs on PyPy.
  sed -i 's/run_setup(not IS_PYPY)/run_setup(False)/' "$tmp/http-parser-0.9.0/setup.py"
  "$VENV/bin/pip" install -q "$tmp/http-parser-0.9.0"
  "$VENV/bin/pip" install -q pymesos
  rm -rf "$tmp"
  "$PY" -c 'import pymesos, http_parser.http'
fi

# ---- tritium
cargo build -q --release -p tritium-bench --bin tritium-e2e -p tritium-sim --bin tritium-sim
E2E="$ROOT/target/release/tritium-e2e"
SIM="$ROOT/target/release/tritium-sim"

OUTF="$(mktemp)"
SIM_PID=""
cleanup() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
  rm -f "$OUTF"
}
trap cleanup EXIT

start_sim() {
  "$SIM" --listen "127.0.0.1:$PORT" --agents "$AGENTS" --seed "$SEED" \
    --offer-interval "$OFFER_INTERVAL" --quiet >/dev/null 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 200); do
    if curl -sf "http://127.0.0.1:$PORT/version" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "tritium-sim did not come up on port $PORT" >&2
  exit 1
}
stop_sim() {
  kill "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
  SIM_PID=""
}

echo "# agents=$AGENTS tasks=$TASKS seed=$SEED offer_interval_s=$OFFER_INTERVAL rounds=$ROUNDS nproc=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" >&2
for r in $(seq 1 "$ROUNDS"); do
  start_sim
  t_line="$(timeout "$TIMEOUT" "$E2E" launch --master "http://127.0.0.1:$PORT" --tasks "$TASKS" --poll-ms 20 \
            || echo "bench=e2e-launch error=failed_or_timeout")"
  stop_sim
  echo "round=$r $t_line" | tee -a "$OUTF"
  start_sim
  p_line="$(timeout "$TIMEOUT" "$PY" bench/peers/pymesos_launch.py --master "127.0.0.1:$PORT" --tasks "$TASKS" \
            || echo "peer=pymesos error=failed_or_timeout")"
  stop_sim
  echo "round=$r $p_line" | tee -a "$OUTF"
done
if [ -n "${RESULTS:-}" ]; then cp "$OUTF" "$RESULTS"; fi

awk '
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
  v["bench"] == "e2e-launch" { t[v["round"]] = v["tasks_running_per_s"] }
  v["peer"] == "pymesos"     { p[v["round"]] = v["tasks_running_per_s"] }
  END {
    n = 0
    for (r in t) if ((r in p) && p[r] > 0 && t[r] > 0) {
      x = t[r] / p[r]; ratios[++n] = x
      printf "# ratio round=%s tritium_tasks_running_per_s=%s pymesos_tasks_running_per_s=%s tritium_vs_pymesos=%.2f\n", r, t[r], p[r], x
    }
    if (n == 0) { print "# ratio: no round completed on both sides"; exit }
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (ratios[j] < ratios[i]) { s = ratios[i]; ratios[i] = ratios[j]; ratios[j] = s }
    printf "# ratio tritium_vs_pymesos min=%.2f median=%.2f max=%.2f rounds=%d (goal >= 10)\n", ratios[1], ratios[int((n + 1) / 2)], ratios[n], n
  }
' "$OUTF"
