#!/usr/bin/env python3
"""pymesos peer of `tritium-e2e launch`: launch the same tasks on the same
simulated cluster and report how fast they are all RUNNING.

    pymesos_launch.py --master 127.0.0.1:5050 [--tasks 10000] [--cpu 0.1] [--mem 32]

A plain pymesos scheduler, written the way its README's examples are: a
`Scheduler` subclass whose `resourceOffers` packs as many tasks as fit into
each offer (first fit on the offer's unreserved cpus and mem) and launches
them with one ACCEPT per offer, declines what it cannot use, and suppresses
once every task is launched; `statusUpdate` counts tasks that reached
TASK_RUNNING. pymesos acknowledges every update itself (implicit
acknowledgements). The framework's role is `tritium`, like tritium's, so
both get offers of the same agents.

The clock starts when the master confirms the subscription (`registered`):
like `tritium-e2e launch`, whose clock starts at the POST of the app to an
already subscribed tritium, the first offers then come with the master's
next allocation cycle. Prints one line:

    peer=pymesos tasks=N seconds_to_running=S tasks_running_per_s=R ...
"""

import argparse
import logging
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

# Fixed point of the master's scalars (Mesos keeps three decimals).
MILLI = 1000


def scalar_milli(resource):
    return int(round(resource["scalar"]["value"] * MILLI))


def unreserved(resource):
    """True for resources of the default `*` pool (no reservation)."""
    if resource.get("reservations") or resource.get("reservation"):
        return False
    return resource.get("role", "*") == "*"


class Launcher(Scheduler):
    def __init__(self, tasks, cpu, mem, prefix):
        self.n = tasks
        self.cpu_m = int(round(cpu * MILLI))
        self.mem_m = int(round(mem * MILLI))
        self.cpu = cpu
        self.mem = mem
        self.prefix = prefix
        self.next = 0
        self.running = set()
        self.done = threading.Event()
        self.t_registered = None
        self.t_first_offer = None
        self.t_launched = None
        self.t_running = None
        self.offers = 0
        self.accepts = 0
        self.declines = 0
        self.updates = 0
        self.suppressed = False
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        self.t_registered = time.monotonic()

    def resourceOffers(self, driver, offers):
        now = time.monotonic()
        with self.lock:
            if self.t_first_offer is None:
                self.t_first_offer = now
            for offer in offers:
                self.offers += 1
                if self.next >= self.n:
                    driver.declineOffer(offer["id"], {"refuse_seconds": 3600})
                    self.declines += 1
                    continue
                cpus = mem = 0
                for r in offer.get("resources", []):
                    if r.get("type", "SCALAR") != "SCALAR" or not unreserved(r):
                        continue
                    if r["name"] == "cpus":
                        cpus += scalar_milli(r)
                    elif r["name"] == "mem":
                        mem += scalar_milli(r)
                tasks = []
                agent = offer["agent_id"]["value"]
                while self.next < self.n and cpus >= self.cpu_m and mem >= self.mem_m:
                    tid = "%s.%d" % (self.prefix, self.next)
                    tasks.append({
                        "name": tid,
                        "task_id": {"value": tid},
                        "agent_id": {"value": agent},
                        "resources": [
                            {"name": "cpus", "type": "SCALAR", "scalar": {"value": self.cpu}},
                            {"name": "mem", "type": "SCALAR", "scalar": {"value": self.mem}},
                        ],
                        "command": {"value": "sleep 3600", "shell": True},
                    })
                    self.next += 1
                    cpus -= self.cpu_m
                    mem -= self.mem_m
                if tasks:
                    driver.launchTasks(offer["id"], tasks, {"refuse_seconds": 5})
                    self.accepts += 1
                else:
                    driver.declineOffer(offer["id"], {"refuse_seconds": 5})
                    self.declines += 1
            if self.next >= self.n:
                if self.t_launched is None:
                    self.t_launched = time.monotonic()
                if not self.suppressed:
                    driver.suppressOffers()
                    self.suppressed = True

    def statusUpdate(self, driver, update):
        with self.lock:
            self.updates += 1
            tid = update["task_id"]["value"]
            if update["state"] == "TASK_RUNNING" and tid.startswith(self.prefix + "."):
                self.running.add(tid)
                if len(self.running) >= self.n and self.t_running is None:
                    self.t_running = time.monotonic()
                    self.done.set()
            elif update["state"] in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"):
                logging.warning("task %s: %s %s", tid, update["state"], update.get("message", ""))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--master", default="127.0.0.1:5050", help="HOST:PORT of the master")
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--cpu", type=float, default=0.1)
    p.add_argument("--mem", type=float, default=32.0)
    p.add_argument("--prefix", default="pymesos-e2e")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    sched = Launcher(a.tasks, a.cpu, a.mem, a.prefix)
    framework = {
        "user": "root",
        "name": "pymesos-e2e",
        "role": "tritium",
        "hostname": "localhost",
    }
    driver = MesosSchedulerDriver(sched, framework, a.master, use_addict=False)
    t_start = time.monotonic()
    driver.start()
    finished = sched.done.wait(a.timeout)
    driver.stop()
    driver.join()
    if not finished:
        print("peer=pymesos error=timeout tasks=%d running=%d launched=%d"
              % (a.tasks, len(sched.running), sched.next))
        sys.exit(1)
    t0 = sched.t_registered or t_start
    secs = sched.t_running - t0
    print(
        "peer=pymesos tasks=%d seconds_to_running=%.3f tasks_running_per_s=%.0f "
        "seconds_to_launched=%.3f seconds_first_offer_to_running=%.3f seconds_from_start=%.3f "
        "offers=%d accepts=%d declines=%d updates=%d"
        % (
            a.tasks, secs, a.tasks / secs,
            (sched.t_launched or sched.t_running) - t0,
            sched.t_running - (sched.t_first_offer or t0),
            sched.t_running - t_start,
            sched.offers, sched.accepts, sched.declines, sched.updates,
        )
    )


if __name__ == "__main__":
    main()
