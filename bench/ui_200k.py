"""The status page with 10,000 apps and 200,000 tasks (issue 24, item 6).

Starts tritium-sim (100 agents) and tritium (file store in a temporary
directory), posts 10,000 apps of 20 instances (0.001 cpu, 1 MiB; 100 apps a
POST) and waits
until all 200,000 tasks run. Then, for each tritium build named in
TRITIUM_BINS (comma-separated directories; default: TRITIUM_BIN_DIR), it
starts that tritium on the same store and the same sim (the tasks stay
where they run: a restart reconciles them), waits until it reports the
200,000 tasks RUNNING, and runs UI_MEASURE (a shell command; default the
ignored status_page measurement, five page loads in headless Chromium)
with TRITIUM_UI_BENCH=127.0.0.1:15361. So several builds are measured in
one run, against the same apps and tasks. Before the page loads, and
after, it measures the rows request (`rows_cost`): its round trip, and
the engine's loop time per request from /metrics.

  cargo build --release -p tritium --bin tritium -p tritium-sim --bin tritium-sim
  cargo build -p tritium --bin tritium
  TRITIUM_SIM_BIN_DIR=target/release TRITIUM_BINS=target/release,target/debug \
    python3 bench/ui_200k.py

Without UI_MEASURE set to "" it ends after the last build; with it empty,
it keeps the last tritium running for an hour for measurements by hand.
"""
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

SIM_BIN = os.environ.get("TRITIUM_SIM_BIN_DIR", os.environ.get("TRITIUM_BIN_DIR", "target/debug"))
BINS = [d for d in os.environ.get("TRITIUM_BINS", os.environ.get("TRITIUM_BIN_DIR", "target/debug")).split(",") if d]
MEASURE = os.environ.get(
    "UI_MEASURE",
    "cargo nextest run -p tritium --test status_page --run-ignored only "
    "-E 'test(measure)' --no-capture 2>&1 | grep -E '^run [0-9]'",
)
SIM, API = 15360, 15361
APPS, INSTANCES = int(os.environ.get("UI_APPS", "10000")), 20
TASKS = APPS * INSTANCES
# Apps per POST (the API takes at most 100).
PER_POST = 100


def ok(u):
    try:
        with urllib.request.urlopen(u, timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def send(m, u, b):
    req = urllib.request.Request(u, data=b, method=m, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait(what, secs, f, every=1):
    end = time.time() + secs
    while time.time() < end:
        if f():
            return
        time.sleep(every)
    sys.exit("timed out: " + what)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def scrape():
    with urllib.request.urlopen(f"http://127.0.0.1:{API}/metrics", timeout=120) as r:
        t = r.read().decode()
    return metric(t, "tritium_loop_turn_seconds_sum"), metric(t, "tritium_loop_turns_total")


ROW_QUERIES = ["limit=100", "q=app-09&limit=100", "status=running&limit=100",
               "agent=ip-10-16-0-5&limit=100", "offset=9900&limit=100"]


def rows_cost(label, n=10):
    """The rows request's cost with every task RUNNING and nothing else
    going on: its round trip (median and max of n per query), and the
    engine's own time per request, from the loop-turn seconds the engine
    counts (/metrics) over the requests, less the same window idle."""
    def window(f, secs):
        s0, t0 = scrape()
        w0 = time.time()
        f()
        rest = secs - (time.time() - w0)
        if rest > 0:
            time.sleep(rest)
        s1, t1 = scrape()
        return s1 - s0, t1 - t0, time.time() - w0
    trips = {}
    # Just after a restart the engine may still be reconciling: wait for
    # a first answer (503 while it is busy) before timing anything.
    def answers():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{API}/v1/api/app/rows?limit=1", timeout=120) as r:
                return r.status == 200
        except Exception:
            return False
    wait("a first rows answer", 600, answers, every=2)

    def ask_all():
        for q in ROW_QUERIES:
            for _ in range(n):
                a = time.time()
                with urllib.request.urlopen(f"http://127.0.0.1:{API}/v1/api/app/rows?{q}", timeout=120) as r:
                    body = r.read()
                trips.setdefault(q, []).append(time.time() - a)
            trips[q + " bytes"] = len(body)
    busy, busy_turns, secs = window(ask_all, 0)
    idle, idle_turns, _ = window(lambda: None, secs)
    reqs = n * len(ROW_QUERIES)
    print(f"{label}: rows requests at {running_per_tritium():,} RUNNING (load {loadavg()}):", flush=True)
    for q in ROW_QUERIES:
        t = sorted(trips[q])
        print(f"  GET /v1/api/app/rows?{q}: round trip median {t[len(t)//2]*1000:.1f} ms, "
              f"max {t[-1]*1000:.1f} ms ({trips[q + ' bytes']:,} bytes)", flush=True)
    print(f"  engine loop time per rows request: {(busy - idle) / reqs * 1000:.2f} ms "
          f"({busy:.3f} s in {busy_turns:.0f} turns over {reqs} requests and {secs:.1f} s; "
          f"idle window {idle:.3f} s in {idle_turns:.0f} turns)", flush=True)


def running_per_tritium():
    """RUNNING tasks as tritium's /metrics counts them."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{API}/metrics", timeout=60) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('tritium_tasks{state="TASK_RUNNING"}'):
                    return int(float(line.split()[-1]))
    except Exception:
        pass
    return 0


# SIGTERM stops the processes this started too (the `finally` below).
signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
store = tempfile.mkdtemp(prefix="ui_200k-store-")
procs = []


def start_tritium(bin_dir):
    t = subprocess.Popen([f"{bin_dir}/tritium", "--master", f"http://127.0.0.1:{SIM}", "--listen",
        f"127.0.0.1:{API}", "--store", f"file:{store}", "--log-level", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(t)
    wait("tritium ready", 600, lambda: ok(f"http://127.0.0.1:{API}/ready"))
    return t


def stop(p):
    p.terminate()
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


try:
    sim = subprocess.Popen([f"{SIM_BIN}/tritium-sim", "--listen", f"127.0.0.1:{SIM}", "--agents", "100",
        "--agent-shape", "cpus=10000,mem=10000000,disk=1000000", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(sim)
    wait("sim", 60, lambda: ok(f"http://127.0.0.1:{SIM}/version"))
    t = start_tritium(BINS[0])
    t0 = time.time()
    for base in range(0, APPS, PER_POST):
        docs = [{"name": f"app-{i:05d}", "instances": INSTANCES, "resources": {"cpu": 0.001, "mem": 1},
                 "command": {"cmd": "sleep 36000"}} for i in range(base, base + PER_POST)]
        for attempt in range(60):
            s, b = send("POST", f"http://127.0.0.1:{API}/v1/api/app", json.dumps(docs).encode())
            if s == 201 or (attempt > 0 and s == 409):
                break
            assert s in (503, 409), (s, b[:300])
            time.sleep(3)
        else:
            sys.exit("POST kept failing")
    print(f"posted {APPS:,} apps in {time.time()-t0:.1f} s", flush=True)

    def all_running():
        n = running_per_tritium()
        print(f"{time.time()-t0:.0f} s: {n} running (load {loadavg()})", flush=True)
        return n >= TASKS

    wait("200,000 tasks running", 3600, all_running, every=15)
    print(f"{TASKS:,} tasks RUNNING {time.time()-t0:.1f} s after the first POST", flush=True)
    # Every build is measured under the same conditions: none while
    # another is still being built (copy each binary in place atomically).
    for bin_dir in BINS:
        wait(f"{bin_dir}/tritium to exist", 7200, lambda: os.access(f"{bin_dir}/tritium", os.X_OK), every=10)
    for i, bin_dir in enumerate(BINS):
        if i > 0:
            # The build may still be under way.
            wait(f"{bin_dir}/tritium to exist", 7200, lambda: os.access(f"{bin_dir}/tritium", os.X_OK), every=10)
            stop(t)
            t0 = time.time()
            t = start_tritium(bin_dir)
            wait(f"{bin_dir}: 200,000 tasks running", 1800, all_running, every=5)
            print(f"{bin_dir}: restarted on the same store, every task RUNNING after {time.time()-t0:.1f} s", flush=True)
        if not MEASURE:
            print(f"READY: tritium ({bin_dir}) on 127.0.0.1:{API}, pid {t.pid}", flush=True)
            time.sleep(3600)
            break
        print(f"== {bin_dir} (load {loadavg()})", flush=True)
        rows_cost(bin_dir)
        env = dict(os.environ, TRITIUM_UI_BENCH=f"127.0.0.1:{API}")
        subprocess.run(MEASURE, shell=True, env=env)
        rows_cost(bin_dir + " (after the page loads)")
        print(f"== {bin_dir} done (load {loadavg()})", flush=True)
finally:
    for p in reversed(procs):
        if p.poll() is None:
            stop(p)
    shutil.rmtree(store, ignore_errors=True)
