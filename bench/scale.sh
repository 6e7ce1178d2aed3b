#!/usr/bin/env bash
# scale.sh — tritium at scale against a tritium-sim *process*, so that the
# peak RSS reported (`vm_hwm_kb`, VmHWM of /proc/self/status) is tritium's
# alone: the engine, its REST API and the small benchmark driver around
# them, without the simulator.
#
#   bash bench/scale.sh            # sweeps + the 200,000-task run, then the plots
#
# Runs `tritium-e2e launch --master ...` (see bench/src/bin/tritium-e2e.rs),
# each run on a fresh simulator (seed SEED, offer interval 1 s like a real
# master's default):
#   1. throughput vs agent count: SWEEP_TASKS (2000) tasks on 1k, 10k, 50k agents;
#   2. throughput vs task count: 500, 1000, 2000, 4000 tasks on 1,000 agents;
#   3. the issue's scale run: BIG_TASKS (200000) tasks as two apps on
#      BIG_AGENTS (50000) agents, stopped at BIG_DEADLINE (300) s if not done.
# Raw lines go to bench/results/scale.txt, per-run histograms and progress to
# bench/results/scale-<agents>-<tasks>.json; then bench/plot.py draws
# bench/plots/*.png (matplotlib, installed into target/plot-venv if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SEED="${SEED:-1}"
PORT="${PORT:-15160}"
SWEEP_TASKS="${SWEEP_TASKS:-2000}"
BIG_TASKS="${BIG_TASKS:-200000}"
BIG_AGENTS="${BIG_AGENTS:-50000}"
BIG_DEADLINE="${BIG_DEADLINE:-300}"
DEADLINE="${DEADLINE:-300}"
OUT="$ROOT/bench/results"
mkdir -p "$OUT"

cargo build -q --release -p tritium-bench --bin tritium-e2e -p tritium-sim --bin tritium-sim
E2E="$ROOT/target/release/tritium-e2e"
SIM="$ROOT/target/release/tritium-sim"
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; true' EXIT

run() { # agents tasks apps deadline poll_ms
  local agents=$1 tasks=$2 apps=$3 deadline=$4 poll=$5
  "$SIM" --listen "127.0.0.1:$PORT" --agents "$agents" --seed "$SEED" --quiet >/dev/null 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/version" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local line
  line="$("$E2E" launch --master "http://127.0.0.1:$PORT" --tasks "$tasks" --apps "$apps" \
            --deadline-s "$deadline" --poll-ms "$poll" \
            --hist-out "$OUT/scale-$agents-$tasks.json" || echo "bench=e2e-launch error=failed")"
  kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""
  # the agent count is the simulator's (tritium-e2e sees only a URL)
  echo "${line/agents=external/agents=$agents}" | tee -a "$OUT/scale.txt"
}

echo "# $(date -u +%FT%TZ) nproc=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" | tee -a "$OUT/scale.txt"
for a in 1000 10000 50000; do run "$a" "$SWEEP_TASKS" 1 "$DEADLINE" 20; done
for t in 500 1000 4000; do run 1000 "$t" 1 "$DEADLINE" 20; done
run "$BIG_AGENTS" "$BIG_TASKS" 2 "$BIG_DEADLINE" 500

if ! "$ROOT/target/plot-venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$ROOT/target/plot-venv"
  "$ROOT/target/plot-venv/bin/pip" install -q matplotlib
fi
"$ROOT/target/plot-venv/bin/python" bench/plot.py "$OUT" bench/plots
