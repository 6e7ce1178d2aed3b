#!/usr/bin/env python3
"""tritium's memory around large answers (issue 22, item 4).

Starts a tritium-sim process and a tritium process against it (memory
store), deploys one app of --instances instances (0.001 cpu, 1 MiB each),
and reads tritium's VmRSS (/proc/<pid>/status) at each step:

  launched   every instance RUNNING
  burst      after --burst rounds of large answers: the list with every
             task document it allows (tasks=all&task_limit=10000), the
             list's default (tasks=summary), and every page of the app's
             tasks (task_limit=10000, following next_task)
  deleted    after the app is deleted and gone

It prints one line per step and the answers' sizes. Figures and the
machine they were taken on: BENCHMARKS.md. Usage:

  cargo build -p tritium --bin tritium -p tritium-sim --bin tritium-sim
  python3 bench/answers_rss.py --bin target/debug [--instances 100000]
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def send(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait(what, deadline, f):
    end = time.time() + deadline
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(1)
    sys.exit(f"timed out: {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug")
    ap.add_argument("--instances", type=int, default=100_000)
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--sim-port", type=int, default=15260)
    ap.add_argument("--api-port", type=int, default=15261)
    ap.add_argument("--deadline", type=int, default=900)
    a = ap.parse_args()
    sim_url = f"http://127.0.0.1:{a.sim_port}"
    api = f"http://127.0.0.1:{a.api_port}"
    procs = []
    try:
        procs.append(subprocess.Popen(
            [os.path.join(a.bin, "tritium-sim"), "--listen", f"127.0.0.1:{a.sim_port}",
             "--agents", str(a.agents), "--agent-shape", "cpus=10000,mem=10000000,disk=1000000",
             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait("the sim", 60, lambda: _ok(f"{sim_url}/version"))
        t = subprocess.Popen(
            [os.path.join(a.bin, "tritium"), "--master", sim_url,
             "--listen", f"127.0.0.1:{a.api_port}", "--store", "mem", "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(t)
        wait("tritium ready", 60, lambda: _ok(f"{api}/ready"))
        print(f"start     rss_mib={rss_mib(t.pid):.0f}")
        doc = {"name": "big", "instances": a.instances,
               "resources": {"cpu": 0.001, "mem": 1}, "command": {"cmd": "sleep 36000"}}
        s, body = send("POST", f"{api}/v1/api/app", json.dumps(doc).encode())
        assert s == 201, body
        t0 = time.time()

        def running():
            try:
                _, b = get(f"{api}/v1/api/app?name=big&tasks=summary")
            except (urllib.error.HTTPError, OSError):
                return False  # the engine busy launching (503), or slow
            return json.loads(b)["running"] >= a.instances

        wait("every instance RUNNING", a.deadline, running)
        print(f"launched  rss_mib={rss_mib(t.pid):.0f} after_s={time.time() - t0:.0f}")
        sizes = {}
        for _ in range(a.burst):
            for name, path in [("list_all", "/v1/api/app/all?tasks=all&task_limit=10000"),
                               ("list_summary", "/v1/api/app/all"),
                               ("app_default", "/v1/api/app?name=big")]:
                _, b = get(api + path)
                sizes[name] = len(b)
            after, pages, largest = None, 0, 0
            while True:
                q = f"&task_after={after}" if after else ""
                _, b = get(f"{api}/v1/api/app?name=big&task_limit=10000{q}")
                pages += 1
                largest = max(largest, len(b))
                after = json.loads(b)["next_task"]
                if not after:
                    break
            sizes["app_pages"] = pages
            sizes["app_page_largest"] = largest
        print(f"burst     rss_mib={rss_mib(t.pid):.0f} rounds={a.burst} "
              + " ".join(f"{k}={v}" for k, v in sizes.items()))
        s, _ = send("DELETE", f"{api}/v1/api/app?name=big")
        assert s == 202
        t0 = time.time()
        wait("the app gone", a.deadline,
             lambda: _status(f"{api}/v1/api/app?name=big&tasks=none") == 404)
        gone_s = time.time() - t0
        time.sleep(2)
        print(f"deleted   rss_mib={rss_mib(t.pid):.0f} after_s={gone_s:.0f}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()  # a busy engine may not get to its shutdown
                p.wait()


def _ok(url):
    try:
        return get(url, timeout=5)[0] == 200
    except Exception:
        return False


def _status(url):
    try:
        return get(url, timeout=30)[0]
    except urllib.error.HTTPError as e:
        return e.code


if __name__ == "__main__":
    main()
