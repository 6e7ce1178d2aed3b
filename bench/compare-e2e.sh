#!/usr/bin/env bash
# compare-e2e.sh — tritium vs mesos-go vs pymesos, end to end, on the same
# simulated cluster: each launches the same TASKS tasks (0.1 cpu, 32 MB, a
# command) on a fresh `tritium-sim` process with the same AGENTS, SEED,
# AGENT_SHAPE and offer interval, and reports how fast they are all RUNNING
# (every status update acknowledged).
#
#   bash bench/compare-e2e.sh            # 10,000 tasks on 1,000 agents, 10 rounds
#   ROUNDS=5 TASKS=2000 PEERS="tritium mesos-go" bash bench/compare-e2e.sh
#
# Each round runs every peer in PEERS in turn (the order rotates by one each
# round, so no peer always runs first or last in a burst of machine load),
# each against its own new simulator (same flags), and prints one line per
# peer followed by `sim:` (what the simulator counted in that run: offers,
# ACCEPTs, DECLINEs, launches, updates, acknowledgements, violations).
# The last lines are tritium's ratio to each peer per round and
# min / median / max over the rounds, and each peer's median tasks/s.
#
# Identical offers for every peer: the simulator runs with a fixed agent
# shape (AGENT_SHAPE, default cpus=8,mem=32768,disk=200000,gpus=0): every
# agent has exactly that, nothing is reserved and no agent is public (the
# mixed default cluster reserves resources for role `tritium` on ~15% of
# agents, which tritium uses and the peers skip, and mixes sizes of 8 to 96
# cpus). Each peer is the only framework on its own fresh simulator
# (role `tritium`, same seed), so its first OFFERS event is the same 1,000
# offers of one whole agent each, in the same order; the simulator never
# offers resources already held by an outstanding offer or a task (its
# `check_agent` invariant; the `sim:` line's `violations` must be 0).
#
# Same start and end for every peer: the clock starts when the peer is
# subscribed and asks for the tasks (tritium: the POST of the app to an
# already subscribed tritium; mesos-go, pymesos: the SUBSCRIBED event), so
# each waits for the master's next allocation cycle; it stops when every
# task is RUNNING and its updates acknowledged. mesos-go counts a task in
# its UPDATE handler, which runs after controller.AckStatusUpdates' ACK
# call was answered; tritium (`tritium-e2e launch --watch-master`,
# `tasks_acknowledged_per_s`) when the simulator's /sim/counters, polled
# every 5 ms, shows every task launched and every update it sent
# acknowledged, and tritium's engine then confirms all RUNNING (tritium
# pipelines its ACKs: when its engine records the last RUNNING, hundreds
# may still be on their way; and polling the engine's metrics every few ms
# would load tritium's engine thread with work the peers do not have);
# pymesos counts in statusUpdate, just before its driver sends that
# update's ACK (one call short).
#
# Knobs: AGENTS (1000), TASKS (10000), SEED (1), OFFER_INTERVAL (0.1 s),
# AGENT_SHAPE (above; empty for the mixed cluster), ROUNDS (10), PEERS
# ("tritium mesos-go pymesos"), PORT (15150: the simulator's port),
# TIMEOUT (900 s per run), RESULTS=FILE (keep the raw lines), E2E and SIM
# (binaries to use instead of building them).
#
# Needs: cargo, curl, python3 with venv, apt (Debian) for the Go peer.
# - mesos-go peer (bench/peers/mesosgo_launch.go): Debian's golang-go and
#   golang-github-mesos-mesos-go-dev (+ golang-github-gogo-protobuf-dev),
#   installed with apt-get when missing, built in GOPATH mode (the Debian
#   package is a GOPATH source tree) into target/mesosgo-launch.
# - pymesos peer: installed if missing into a venv under
#   target/pymesos-venv: its dependency http-parser 0.9.0 is built from its
#   source distribution with the C extension switched off (the C part no
#   longer compiles on Python 3.11; the package has a pure-Python parser,
#   which pymesos uses), then `pip install pymesos`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
AGENTS="${AGENTS:-1000}"
TASKS="${TASKS:-10000}"
SEED="${SEED:-1}"
OFFER_INTERVAL="${OFFER_INTERVAL:-0.1}"
AGENT_SHAPE="${AGENT_SHAPE-cpus=8,mem=32768,disk=200000,gpus=0}"
ROUNDS="${ROUNDS:-10}"
PEERS="${PEERS:-tritium mesos-go pymesos}"
PORT="${PORT:-15150}"
TIMEOUT="${TIMEOUT:-900}"
VENV="$ROOT/target/pymesos-venv"
PY="$VENV/bin/python"
read -r -a PEER_LIST <<<"$PEERS"
for p in "${PEER_LIST[@]}"; do
  case "$p" in tritium | mesos-go | pymesos) ;; *) echo "unknown peer $p (tritium, mesos-go, pymesos)" >&2; exit 2 ;; esac
done
wants() { [[ " $PEERS " == *" $1 "* ]]; }

# ---- pymesos
if wants pymesos && ! "$PY" -c 'import pymesos, http_parser.http' 2>/dev/null; then
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

# ---- mesos-go (Debian packages, GOPATH mode)
GOPEER="$ROOT/target/mesosgo-launch"
MESOS_GO=/usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib
if wants mesos-go; then
  if ! command -v go >/dev/null || [ ! -f "$MESOS_GO/httpcli/httpsched/httpsched.go" ] \
     || [ ! -d /usr/share/gocode/src/github.com/gogo/protobuf/proto ]; then
    echo "# apt-get install golang-go golang-github-mesos-mesos-go-dev golang-github-gogo-protobuf-dev" >&2
    SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      golang-go golang-github-mesos-mesos-go-dev golang-github-gogo-protobuf-dev >/dev/null
  fi
  if [ ! -x "$GOPEER" ] || [ bench/peers/mesosgo_launch.go -nt "$GOPEER" ]; then
    gop="$ROOT/target/mesosgo-gopath"
    mkdir -p "$gop/src/mesosgo_launch"
    cp bench/peers/mesosgo_launch.go "$gop/src/mesosgo_launch/main.go"
    echo "# building the mesos-go peer ($(go version | awk '{print $3}'), mesos-go $(dpkg-query -W -f='${Version}' golang-github-mesos-mesos-go-dev 2>/dev/null || echo '?'))" >&2
    (cd "$gop/src/mesosgo_launch" && GOPATH="$gop:/usr/share/gocode" GO111MODULE=off GOFLAGS= \
      go build -o "$GOPEER" .)
  fi
fi

# ---- tritium (E2E and SIM name other binaries, e.g. a baseline build's
# simulator, instead of building)
if [ -z "${E2E:-}" ] || [ -z "${SIM:-}" ]; then
  cargo build -q --release -p tritium-bench --bin tritium-e2e -p tritium-sim --bin tritium-sim
fi
E2E="${E2E:-$ROOT/target/release/tritium-e2e}"
SIM="${SIM:-$ROOT/target/release/tritium-sim}"

OUTF="$(mktemp)"
SIM_PID=""
cleanup() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
  rm -f "$OUTF" "${CPUF:-}"
}
trap cleanup EXIT

SHAPE_ARGS=()
if [ -n "$AGENT_SHAPE" ]; then SHAPE_ARGS=(--agent-shape "$AGENT_SHAPE"); fi
start_sim() {
  "$SIM" --listen "127.0.0.1:$PORT" --agents "$AGENTS" --seed "$SEED" "${SHAPE_ARGS[@]}" \
    --offer-interval "$OFFER_INTERVAL" --quiet >/dev/null 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 200); do
    if curl -sf "http://127.0.0.1:$PORT/version" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "tritium-sim did not come up on port $PORT" >&2
  exit 1
}
# What the simulator counted in this run, from its /sim/counters: one line.
# (Not /sim/state: its task list is no use here, as the peers' frameworks
# have no failover timeout, so the master removes them and their tasks when
# they exit, and writing tritium's 10,000 tasks as JSON cost the simulator
# about 0.1 s of CPU, counted before as serving tritium.)
sim_summary() {
  curl -sf "http://127.0.0.1:$PORT/sim/counters" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(" ".join("%s=%d" % (k, c[k]) for k in (
    "offers_sent", "offers_accepted", "offers_declined", "offers_rescinded", "tasks_launched",
    "updates_sent", "updates_resent", "acks", "calls", "violations")))
' || echo "state_unavailable=1"
}
stop_sim() {
  kill "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
  SIM_PID=""
}

# CPU seconds (user + system) the simulator process has used so far.
sim_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$SIM_PID/stat" 2>/dev/null || echo "?"; }
CPUF="$(mktemp)"
run_peer() { # $1 = peer; prints its one result line; its CPU time goes to $CPUF
  : >"$CPUF"
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -o "$CPUF" -f "%U %S" bash -c "$(declare -f peer_cmd); $(declare -p E2E GOPEER PY PORT TASKS TIMEOUT); peer_cmd $1"
  else
    peer_cmd "$1"
  fi
}
peer_cpu() { awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { printf "%.2f", $1 + $2; ok = 1 } END { if (!ok) printf "?" }' "$CPUF"; }
peer_cmd() {
  case "$1" in
    tritium)
      timeout "$TIMEOUT" "$E2E" launch --master "http://127.0.0.1:$PORT" --tasks "$TASKS" --watch-master --poll-ms 5 \
        || echo "bench=e2e-launch error=failed_or_timeout" ;;
    mesos-go)
      timeout "$TIMEOUT" "$GOPEER" -url "http://127.0.0.1:$PORT/api/v1/scheduler" -tasks "$TASKS" \
        -timeout "${TIMEOUT}s" || echo "peer=mesos-go error=failed_or_timeout" ;;
    pymesos)
      timeout "$TIMEOUT" "$PY" bench/peers/pymesos_launch.py --master "127.0.0.1:$PORT" --tasks "$TASKS" \
        --timeout "$TIMEOUT" || echo "peer=pymesos error=failed_or_timeout" ;;
  esac
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# sim=$SIM e2e=$E2E" | tee -a "$OUTF" >&2
echo "# agents=$AGENTS tasks=$TASKS seed=$SEED agent_shape=${AGENT_SHAPE:-mixed} offer_interval_s=$OFFER_INTERVAL rounds=$ROUNDS peers=\"$PEERS\" nproc=$(nproc) commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?') load=\"$(loadavg)\"" | tee -a "$OUTF" >&2
n_peers=${#PEER_LIST[@]}
for r in $(seq 1 "$ROUNDS"); do
  for k in $(seq 0 $((n_peers - 1))); do
    p="${PEER_LIST[$(((k + r - 1) % n_peers))]}"
    start_sim
    line="$(run_peer "$p")"
    # The simulator's CPU first, then what it counted.
    scpu="$(sim_cpu)"
    sim_line="$(sim_summary) sim_cpu_s=$scpu peer_cpu_s=$(peer_cpu)"
    stop_sim
    echo "round=$r $line" | tee -a "$OUTF"
    echo "#   round=$r peer=$p sim: $sim_line load=\"$(loadavg)\"" | tee -a "$OUTF"
  done
done
if [ -n "${RESULTS:-}" ]; then cp "$OUTF" "$RESULTS"; fi

awk '
  function med(a, n,   i, j, s) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { s = a[i]; a[i] = a[j]; a[j] = s }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  /^#/ { next }
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }; if (v["round"] + 0 > maxr) maxr = v["round"] + 0 }
  # tritium: to every update acknowledged at the master when it says (the
  # mesos-go peer counts a task once its ACK is answered); else to RUNNING.
  v["bench"] == "e2e-launch" && v["complete"] == "true" {
    t[v["round"]] = (v["tasks_acknowledged_per_s"] ~ /^[0-9]/) ? v["tasks_acknowledged_per_s"] : v["tasks_running_per_s"] }
  v["peer"] == "mesos-go" && v["tasks_running_per_s"] != "" { g[v["round"]] = v["tasks_running_per_s"] }
  v["peer"] == "pymesos"  && v["tasks_running_per_s"] != "" { p[v["round"]] = v["tasks_running_per_s"] }
  END {
    nt = ng = np = 0
    for (r in t) tt[++nt] = t[r] + 0
    for (r in g) gg[++ng] = g[r] + 0
    for (r in p) pp[++np] = p[r] + 0
    if (nt) printf "# tasks_running_per_s tritium median=%.0f rounds=%d\n", med(tt, nt), nt
    if (ng) printf "# tasks_running_per_s mesos-go median=%.0f rounds=%d\n", med(gg, ng), ng
    if (np) printf "# tasks_running_per_s pymesos median=%.0f rounds=%d\n", med(pp, np), np
    split("mesos-go pymesos", names, " "); goal["mesos-go"] = 3; goal["pymesos"] = 10
    for (k = 1; k <= 2; k++) {
      name = names[k]; n = 0; hit = 0; delete x
      for (r = 1; r <= maxr; r++) {
        if (!(r in t)) continue
        if (name == "mesos-go") { if (!(r in g) || g[r] <= 0) continue; q = t[r] / g[r] }
        else { if (!(r in p) || p[r] <= 0) continue; q = t[r] / p[r] }
        x[++n] = q; if (q >= goal[name]) hit++
        printf "# ratio round=%s tritium_vs_%s=%.2f\n", r, name, q
      }
      if (n == 0) { printf "# ratio tritium_vs_%s: no round completed on both sides\n", name; continue }
      lo = hi = x[1]; for (i = 1; i <= n; i++) { if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i] }
      printf "# ratio tritium_vs_%s min=%.2f median=%.2f max=%.2f rounds=%d at_goal=%d (goal >= %d)\n", name, lo, med(x, n), hi, n, hit, goal[name]
    }
  }
' "$OUTF"
