#!/usr/bin/env python3
"""Draw the scale and API plots of BENCHMARKS.md from bench/results/.

    plot.py RESULTS_DIR PLOTS_DIR

Reads the `--hist-out` JSON files of `tritium-e2e` (scale-<agents>-<tasks>.json
from bench/scale.sh, api.json from `tritium-e2e api`) and writes:

- throughput_vs_agents.png: tasks RUNNING per second against agent count,
  for the sweep's fixed task count;
- throughput_vs_tasks.png: the same against task count at 1,000 agents
  (plus the 200,000-task run, marked when it did not finish);
- loop_latency.png: the engine's loop-turn latency histograms (log2
  buckets) of the scale runs;
- api_latency.png: GET-app and POST-to-ACCEPT latency histograms;
- rss_vs_tasks.png: tritium's peak RSS (VmHWM) against task count, every
  scale run, with the issue's goals (200 MB at 200,000 tasks, 1 GB at
  1,000,000);
- big_runs_progress.png: tasks launched and RUNNING over time in the runs
  of 100,000 tasks or more (the 200,000- and 1,000,000-task runs), with
  the 60 s goal of the million.
"""

import glob
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(results):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, "scale-*-*.json"))):
        agents, tasks = os.path.basename(path)[len("scale-"):-len(".json")].split("-")
        with open(path) as f:
            d = json.load(f)
        d["agents"] = int(agents)
        d["tasks"] = int(tasks)
        secs = d["seconds_to_running"]
        d["rate"] = d.get("running", d["tasks"]) / secs if secs > 0 else 0
        runs.append(d)
    return runs


def throughput(runs, out, key, fixed, title, fname, xlabel):
    sel = sorted((r for r in runs if fixed(r)), key=lambda r: r[key])
    if not sel:
        return
    fig, ax = plt.subplots(figsize=(6.4, 4))
    xs = [r[key] for r in sel]
    ys = [r["rate"] for r in sel]
    ax.plot(xs, ys, "o-", color="tab:blue")
    for r in sel:
        label = "%.0f/s" % r["rate"]
        if not r.get("complete", True):
            label += "\n(stopped: %d of %d RUNNING)" % (r["running"], r["tasks"])
        ax.annotate(label, (r[key], r["rate"]), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tasks RUNNING per second (POST to last RUNNING)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(os.path.join(out, fname), dpi=110)
    plt.close(fig)


def loop_latency(runs, out):
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    sel = sorted(runs, key=lambda r: (r["agents"], r["tasks"]))
    width = 0.8 / max(1, len(sel))
    tops = sorted({b["top_us"] for r in sel for b in r["turn_latency"] if b["top_us"] is not None and math.isfinite(b["top_us"])})
    index = {t: i for i, t in enumerate(tops)}
    for k, r in enumerate(sel):
        total = sum(b["count"] for b in r["turn_latency"]) or 1
        xs, ys = [], []
        for b in r["turn_latency"]:
            if b["top_us"] in index:
                xs.append(index[b["top_us"]] + k * width)
                ys.append(100.0 * b["count"] / total)
        ax.bar(xs, ys, width=width, label="%dk agents, %d tasks" % (r["agents"] // 1000, r["tasks"]))
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tops))])
    ax.set_xticklabels([fmt_us(t) for t in tops], rotation=60, fontsize=7)
    ax.set_xlabel("engine loop turn took at most (log2 bucket)")
    ax.set_ylabel("% of turns")
    ax.set_title("tritium engine loop-turn latency during the launch (scale runs)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "loop_latency.png"), dpi=110)
    plt.close(fig)


def fmt_us(t):
    if t >= 1e6:
        return "%gs" % (t / 1e6)
    if t >= 1e3:
        return "%gms" % round(t / 1e3, 2)
    return "%gµs" % t


def api(results, out):
    path = os.path.join(results, "api.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        d = json.load(f)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, key, title, target in (
        (axes[0], "get_ms", "GET /v1/api/app?name=X, 10,000 apps", 2.0),
        (axes[1], "post_to_accept_ms", "POST app to its ACCEPT leaving", 5.0),
    ):
        xs = sorted(d.get(key, []))
        if not xs:
            continue
        ax.hist(xs, bins=60, color="tab:blue")
        p99 = xs[min(len(xs) - 1, max(0, math.ceil(0.99 * len(xs)) - 1))]
        ax.axvline(p99, color="tab:red", linestyle="--", label="p99 %.2f ms" % p99)
        ax.axvline(target, color="tab:green", linestyle=":", label="target %.0f ms" % target)
        ax.set_xlabel("ms")
        ax.set_ylabel("requests")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "api_latency.png"), dpi=110)
    plt.close(fig)


def rss(runs, out):
    sel = sorted(runs, key=lambda r: (r["tasks"], r["agents"]))
    if not sel:
        return
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for agents in sorted({r["agents"] for r in sel}):
        pts = [r for r in sel if r["agents"] == agents]
        ax.plot([r["tasks"] for r in pts], [r["vm_hwm_kb"] / 1024.0 for r in pts], "o-",
                label="%s agents" % format(agents, ","))
        for r in pts:
            if r["tasks"] >= 100000:
                label = "%.0f MiB" % (r["vm_hwm_kb"] / 1024.0)
                if not r.get("complete", True):
                    label += "\n(stopped: %s of %s RUNNING)" % (format(r["running"], ","), format(r["tasks"], ","))
                ax.annotate(label, (r["tasks"], r["vm_hwm_kb"] / 1024.0),
                            textcoords="offset points", xytext=(-110, -24), fontsize=8)
    ax.plot([200000], [200e6 / 2**20], "v", color="tab:red", label="goal: 200 MB at 200k tasks")
    ax.plot([1000000], [1e9 / 2**20], "v", color="tab:purple", label="goal: 1 GB at 1M tasks")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tasks asked for (all RUNNING unless marked)")
    ax.set_ylabel("tritium peak RSS, MiB (VmHWM; simulator not included)")
    ax.set_title("tritium's peak memory by task count (scale.sh)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "rss_vs_tasks.png"), dpi=110)
    plt.close(fig)


def big_progress(runs, out):
    sel = sorted((r for r in runs if r["tasks"] >= 100000 and r.get("progress")), key=lambda r: r["tasks"])
    if not sel:
        return
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    for r in sel:
        ts = [p[0] for p in r["progress"]]
        label = "%s tasks / %s agents" % (format(r["tasks"], ","), format(r["agents"], ","))
        line, = ax.plot(ts, [p[2] for p in r["progress"]], "-", label=label + ": RUNNING")
        ax.plot(ts, [p[1] for p in r["progress"]], ":", color=line.get_color(), label=label + ": launched")
        ax.annotate("%.1f s, %.0f MiB" % (r["seconds_to_running"], r["vm_hwm_kb"] / 1024.0),
                    (r["seconds_to_running"], r["running"]), textcoords="offset points", xytext=(-60, 6),
                    fontsize=8)
    ax.axvline(60, color="tab:red", linestyle="--", alpha=0.6, label="goal for 1M: 60 s")
    ax.set_xlabel("seconds since the first POST")
    ax.set_ylabel("tasks")
    ax.set_title("the big runs: tasks launched and RUNNING over time", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "big_runs_progress.png"), dpi=110)
    plt.close(fig)


def main():
    results, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    runs = load(results)
    sweep_tasks = {}
    for r in runs:
        sweep_tasks.setdefault(r["tasks"], set()).add(r["agents"])
    fixed_tasks = max(sweep_tasks, key=lambda t: len(sweep_tasks[t])) if sweep_tasks else 0
    throughput(runs, out, "agents", lambda r: r["tasks"] == fixed_tasks,
               "tritium: %d tasks, time to all RUNNING, by cluster size" % fixed_tasks,
               "throughput_vs_agents.png", "agents (tritium-sim, seed 1, 1 s offer cycle)")
    throughput(runs, out, "tasks", lambda r: r["agents"] == 1000 or r["tasks"] >= 100000,
               "tritium: tasks RUNNING per second by task count (1,000 agents)",
               "throughput_vs_tasks.png", "tasks launched (one app)")
    if runs:
        loop_latency(runs, out)
        rss(runs, out)
        big_progress(runs, out)
    api(results, out)


if __name__ == "__main__":
    main()
