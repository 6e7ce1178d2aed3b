#!/usr/bin/env python3
"""The memory an app version history costs: a tritium (demo mode, file
store) with APPS apps of 0 instances, RSS read from /proc after the apps
are created (one version each) and after VERSIONS-1 rolling updates of
every app (VERSIONS versions each). Prints both and the cost per version.

  bench/versions_rss.py target/release/tritium [APPS] [VERSIONS]

MAX_VERSIONS=1 runs the same updates keeping one version per app: the
difference between the two runs is what the history costs (the rest is
the updates' own churn: app records, the log, the allocator).
"""
import json, os, subprocess, sys, tempfile, time, urllib.error, urllib.request

BIN = sys.argv[1]
APPS = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
VERSIONS = int(sys.argv[3]) if len(sys.argv) > 3 else 50
PORT = int(os.environ.get("PORT", "18431"))
BATCH = 100  # MAX_APPS_PER_REQUEST

def req(method, path, body=None, tries=20):
    # A busy engine answers 503 (it may still have taken the request): a
    # list PUT is sent again (the same specs change nothing twice); a POST
    # again is 409 for what was created.
    for _ in range(tries):
        status, out = req1(method, path, body)
        if status == 503 and path != "/ready":
            time.sleep(1)
            continue
        if status == 409 and method == "POST":
            return 201, out
        if status >= 400 and path != "/ready":
            sys.exit(f"{method} {path}: {status} {out.decode()}")
        return status, out
    sys.exit(f"{method} {path}: still 503 after {tries} tries")

def req1(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method,
                               headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def spec(i, v):
    # A typical small service: command, resources, a label, an env var.
    return {"name": f"app-{i:05d}", "instances": 0,
            "resources": {"cpu": 0.1, "mem": 64},
            "command": {"cmd": f"./server --port $PORT0 --build {v}", "environment": {"BUILD": str(v)}},
            "labels": {"team": "web"}}

with tempfile.TemporaryDirectory() as d:
    p = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{PORT}", "--store", f"file:{d}",
                          "--run-for", "3600", "--max-versions", os.environ.get("MAX_VERSIONS", "50")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if req("GET", "/ready")[0] == 200:
                    break
            except Exception:
                pass
            time.sleep(0.1)
        base = rss_kb(p.pid)
        for lo in range(0, APPS, BATCH):
            req("POST", "/v1/api/app", [spec(i, 1) for i in range(lo, min(APPS, lo + BATCH))])
        one = rss_kb(p.pid)
        for v in range(2, VERSIONS + 1):
            for lo in range(0, APPS, BATCH):
                req("PUT", "/v1/api/app", [spec(i, v) for i in range(lo, min(APPS, lo + BATCH))])
        full = rss_kb(p.pid)
        _, body = req("GET", "/v1/api/app/app-00000/versions")
        listed = json.loads(body)
        kept = len(listed["versions"])
        _, body = req("GET", f"/v1/api/app/app-00000/versions/{listed['current']}")
        added = APPS * (VERSIONS - 1)
        print(f"--max-versions {os.environ.get('MAX_VERSIONS', '50')}: apps {APPS}, versions kept per app {kept}; RSS: idle {base/1024:.0f} MiB, "
              f"{APPS} apps x 1 version {one/1024:.0f} MiB, x {VERSIONS} versions {full/1024:.0f} MiB; "
              f"{(full-one)*1024/added:.0f} bytes per added version; spec document {len(json.dumps(json.loads(body)['spec'], separators=(',', ':')))} bytes")
    finally:
        p.terminate()
        p.wait()
