#!/usr/bin/env bash
# scale.sh — tritium at scale against a tritium-sim *process*, so that the
# peak RSS reported (`vm_hwm_kb`, VmHWM of /proc/self/status) is tritium's
# alone: the engine, its REST API and the small benchmark driver around
# them, without the simulator.
#
#   bash bench/scale.sh                 # sweeps, 200,000 and 1,000,000 tasks, then the plots
#   RUNS="big million" bash bench/scale.sh   # only the big runs
#
# Runs `tritium-e2e launch --master ...` (see bench/src/bin/tritium-e2e.rs),
# each run on a fresh simulator (seed SEED, offer interval 1 s like a real
# master's default):
#   sweep:   throughput vs agent count: SWEEP_TASKS (2000) tasks on 1k, 10k,
#            50k agents; throughput vs task count: 500, 1000, 4000 tasks on
#            1,000 agents;
#   big:     BIG_TASKS (200000) tasks as two apps on BIG_AGENTS (50000)
#            agents, stopped at BIG_DEADLINE (300) s if not done;
#   million: MILLION_TASKS (1000000) tasks as ten apps of 100,000 (the API's
#            per-app limit) on MILLION_AGENTS (100000) agents, stopped at
#            MILLION_DEADLINE (900) s if not done.
# Every line gets the load average before and after the run and what each
# process cost: tritium's CPU seconds (`cpu_s`, `engine_cpu_s` from the
# benchmark itself) and the simulator's (`sim_cpu_s`, `sim_hwm_kb`, read from
# /proc before it is stopped), so a figure says which side limited it.
# Raw lines go to $OUT/scale.txt (OUT: bench/results), per-run histograms and
# progress to $OUT/scale-<agents>-<tasks>.json; then bench/plot.py draws
# bench/plots/*.png (matplotlib, installed into target/plot-venv if missing).
# E2E and SIM name other binaries (a baseline build) instead of building.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SEED="${SEED:-1}"
PORT="${PORT:-15160}"
RUNS="${RUNS:-sweep big million}"
SWEEP_TASKS="${SWEEP_TASKS:-2000}"
BIG_TASKS="${BIG_TASKS:-200000}"
BIG_AGENTS="${BIG_AGENTS:-50000}"
BIG_DEADLINE="${BIG_DEADLINE:-300}"
MILLION_TASKS="${MILLION_TASKS:-1000000}"
MILLION_AGENTS="${MILLION_AGENTS:-100000}"
MILLION_DEADLINE="${MILLION_DEADLINE:-900}"
DEADLINE="${DEADLINE:-300}"
OUT="${OUT:-$ROOT/bench/results}"
PLOTS="${PLOTS:-$ROOT/bench/plots}"
mkdir -p "$OUT"

if [ -z "${E2E:-}" ] || [ -z "${SIM:-}" ]; then
  cargo build -q --release -p tritium-bench --bin tritium-e2e -p tritium-sim --bin tritium-sim
fi
E2E="${E2E:-$ROOT/target/release/tritium-e2e}"
SIM="${SIM:-$ROOT/target/release/tritium-sim}"
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; true' EXIT
TICKS="$(getconf CLK_TCK)"

# CPU seconds (user + system) of process $1, from /proc/PID/stat.
cpu_s() {
  awk -v t="$TICKS" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo "?"
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
load() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/'; }

run() { # agents tasks apps deadline poll_ms
  local agents=$1 tasks=$2 apps=$3 deadline=$4 poll=$5
  local load0
  load0="$(load)"
  "$SIM" --listen "127.0.0.1:$PORT" --agents "$agents" --seed "$SEED" --quiet >/dev/null 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 1200); do
    curl -sf "http://127.0.0.1:$PORT/version" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local sim_cpu0 line sim_cpu sim_hwm
  sim_cpu0="$(cpu_s "$SIM_PID")"
  line="$("$E2E" launch --master "http://127.0.0.1:$PORT" --tasks "$tasks" --apps "$apps" \
            --deadline-s "$deadline" --poll-ms "$poll" \
            --hist-out "$OUT/scale-$agents-$tasks.json" || echo "bench=e2e-launch error=failed")"
  # The simulator's CPU over the run (minus its start-up: generating the
  # agents), read before it is stopped. It includes answering the final
  # GET /sim/counters, which tritium-e2e asks after its own figures.
  sim_cpu="$(cpu_s "$SIM_PID")"
  sim_hwm="$(hwm_kb "$SIM_PID")"
  kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""
  sim_cpu="$(awk -v a="$sim_cpu0" -v b="$sim_cpu" 'BEGIN { printf "%.2f", b - a }' 2>/dev/null || echo "?")"
  # the agent count is the simulator's (tritium-e2e sees only a URL)
  echo "${line/agents=external/agents=$agents} sim_cpu_s=$sim_cpu sim_hwm_kb=$sim_hwm load_before=$load0 load_after=$(load)" \
    | tee -a "$OUT/scale.txt"
}

echo "# $(date -u +%FT%TZ) nproc=$(nproc) commit=$(git rev-parse --short HEAD 2>/dev/null || echo ?) e2e=$E2E load=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" | tee -a "$OUT/scale.txt"
for r in $RUNS; do
  case "$r" in
    sweep)
      for a in 1000 10000 50000; do run "$a" "$SWEEP_TASKS" 1 "$DEADLINE" 20; done
      for t in 500 1000 4000; do run 1000 "$t" 1 "$DEADLINE" 20; done
      ;;
    big) run "$BIG_AGENTS" "$BIG_TASKS" 2 "$BIG_DEADLINE" 500 ;;
    million) run "$MILLION_AGENTS" "$MILLION_TASKS" $(( (MILLION_TASKS + 99999) / 100000 )) "$MILLION_DEADLINE" 1000 ;;
    *) echo "scale.sh: unknown run '$r' (sweep, big, million)" >&2; exit 2 ;;
  esac
done

if ! "$ROOT/target/plot-venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$ROOT/target/plot-venv"
  "$ROOT/target/plot-venv/bin/pip" install -q matplotlib
fi
"$ROOT/target/plot-venv/bin/python" bench/plot.py "$OUT" "$PLOTS"
