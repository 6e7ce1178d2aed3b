"""The status page with 10,000 apps and 200,000 tasks (issue 24, item 6).
Starts a debug tritium-sim (100 agents) and tritium (memory store), posts
10,000 apps of 20 instances (0.001 cpu, 1 MiB) and waits until all 200,000
tasks run, then waits; measure with TRITIUM_UI_BENCH=127.0.0.1:15361 and the
ignored test status_page::measure_the_apps_list_against_a_running_tritium."""
import json, os, subprocess, sys, time, urllib.request
BIN = os.environ.get("TRITIUM_BIN_DIR", "target/debug")
SIM, API = 15360, 15361
def ok(u):
    try:
        with urllib.request.urlopen(u, timeout=5) as r: return r.status == 200
    except Exception: return False
def send(m, u, b):
    req = urllib.request.Request(u, data=b, method=m, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, e.read()
def wait(what, secs, f):
    end = time.time() + secs
    while time.time() < end:
        if f(): return
        time.sleep(1)
    sys.exit("timed out: " + what)
sim = subprocess.Popen([f"{BIN}/tritium-sim", "--listen", f"127.0.0.1:{SIM}", "--agents", "100",
    "--agent-shape", "cpus=10000,mem=10000000,disk=1000000", "--quiet"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait("sim", 60, lambda: ok(f"http://127.0.0.1:{SIM}/version"))
t = subprocess.Popen([f"{BIN}/tritium", "--master", f"http://127.0.0.1:{SIM}", "--listen",
    f"127.0.0.1:{API}", "--store", "mem", "--log-level", "warn"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait("tritium", 60, lambda: ok(f"http://127.0.0.1:{API}/ready"))
t0 = time.time()
for base in range(0, 10000, 20):
    docs = [{"name": f"app-{i:05d}", "instances": 20, "resources": {"cpu": 0.001, "mem": 1},
             "command": {"cmd": "sleep 36000"}} for i in range(base, base + 20)]
    for attempt in range(60):
        s, b = send("POST", f"http://127.0.0.1:{API}/v1/api/app", json.dumps(docs).encode())
        if s == 201 or (attempt > 0 and s == 409):
            break
        assert s in (503, 409), (s, b[:300])
        time.sleep(3)
    else:
        sys.exit("POST kept failing")
print(f"posted 10,000 apps in {time.time()-t0:.1f} s", flush=True)
def sim_running():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{SIM}/sim/state", timeout=120) as r:
            st = json.loads(r.read())
    except Exception: return False
    n = sum(1 for x in st.get("tasks", []) if x.get("state") == "TASK_RUNNING")
    print(f"{time.time()-t0:.0f} s: {n} running", flush=True)
    return n >= 200000
end = time.time() + 1500
while not sim_running():
    if time.time() > end: sys.exit("timed out")
    time.sleep(15)
print(f"200,000 tasks RUNNING {time.time()-t0:.1f} s after the first POST; tritium pid {t.pid} sim pid {sim.pid}", flush=True)
print("READY", flush=True)
time.sleep(3600)
