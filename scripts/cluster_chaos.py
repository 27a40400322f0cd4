#!/usr/bin/python3
"""Cluster chaos (issue 14): N nodes on one PostgreSQL behind HAProxy; senders store studies
through HAProxy while a loop kill -9s a random node (restarting it after a pause); then the
cluster settles and the database and the destination's log are checked:

  acknowledged-but-lost            every C-STORE a sender saw succeed is in `instances`, file present
  duplicate done jobs              at most one done job per study version (study, max_instance_id)
  acknowledged but not analysed    every acknowledged instance is covered by a done job
  stuck / failed jobs, undelivered no job queued or running, none failed, no delivery left pending,
                                   sending or dead
  results missing / unexpected     every output of a done job arrived at the destination; nothing
                                   else arrived; duplicates (same SOP Instance UID) are counted and
                                   each must have an interrupted send (its node was killed)
Also prints take-over times after each kill (from the kill until the killed node's running jobs
and sending deliveries are claimed again or finished, polled from the database) as p50/p99, the
wall time and the ingest rate. Exit status 0 when every check holds.

usage: cluster_chaos.py --node build/app/evax-node [--nodes 3] [--studies 100] [--senders 10]
                        [--kills 20] [--restart-after 6] [--workdir DIR]
Needs DCMTK's storescu, PostgreSQL 15, haproxy, Debian's python3-pydicom and python3-numpy.
"""
import argparse
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy
from pydicom.uid import generate_uid

from dx_files import write_dx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "cluster"))
from harness import AE_TITLE, Cluster  # noqa: E402

STOP = threading.Event()  # set when the script is stopped: senders and the kill loop end
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_instance(path, study_uid, view):
    pixels = numpy.random.randint(0, 4096, (256, 256), dtype=numpy.uint16)
    return write_dx(path, pixels, study_uid, view, "CLUSTER^CHAOS", "CC1")


def make_studies(folder, count, images_per_study=2):
    """[(study_uid, [(path, sop_instance_uid), ...]), ...]"""
    os.makedirs(folder, exist_ok=True)
    studies = []
    for s in range(count):
        study = generate_uid()
        files = []
        for i in range(images_per_study):
            path = os.path.join(folder, f"s{s}_{i}.dcm")
            files.append((path, write_instance(path, study, "PA" if i % 2 == 0 else "AP")))
        studies.append((study, files))
    return studies


def store(port, files, timeout_s=15):
    """One storescu association; returns the SOP Instance UIDs answered Success."""
    by_path = dict(files)
    try:
        result = subprocess.run(["storescu", "-v", "-aec", AE_TITLE, "-to", "5", "-ta", "5", "-td", str(timeout_s),
                                 "127.0.0.1", str(port)] + [p for p, _ in files],
                                capture_output=True, text=True, timeout=timeout_s * 4)
    except subprocess.TimeoutExpired:
        return set()
    acked, current = set(), None
    for line in result.stdout.splitlines() + result.stderr.splitlines():
        m = re.search(r"Sending file: (\S+)", line)
        if m:
            current = m.group(1)
        elif "Received Store Response (Success)" in line and current:
            if current in by_path:
                acked.add(by_path[current])
            current = None
    return acked


class Senders:
    """Each study in one association, retried (its unacknowledged files) until acknowledged,
    the way a modality retries; study i not before start + i * spacing."""

    def __init__(self, port, studies, count, spacing_s, max_attempts=40):
        self.port, self.studies, self.count = port, studies, count
        self.spacing_s, self.max_attempts = spacing_s, max_attempts
        self.acknowledged, self.lock = set(), threading.Lock()
        self.attempts = 0
        self.never_acknowledged = []
        self.work = queue.Queue()
        for i in range(len(studies)):
            self.work.put(i)
        self.started = self.finished = None

    def run_one(self):
        while True:
            try:
                i = self.work.get_nowait()
            except queue.Empty:
                return
            delay = self.started + i * self.spacing_s - time.time()
            if delay > 0:
                time.sleep(delay)
            pending = list(self.studies[i][1])
            for attempt in range(self.max_attempts):
                if STOP.is_set():
                    return
                acked = store(self.port, pending)
                with self.lock:
                    self.acknowledged |= acked
                    self.attempts += 1
                pending = [f for f in pending if f[1] not in acked]
                if not pending:
                    break
                time.sleep(0.5)
            if pending:
                with self.lock:
                    self.never_acknowledged += [uid for _, uid in pending]

    def run(self):
        self.started = time.time()
        threads = [threading.Thread(target=self.run_one, daemon=True) for _ in range(self.count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.finished = time.time()


def held_work(cluster, node_id):
    """The killed node's claims frozen at its death: running jobs and sending deliveries."""
    jobs = [r[0] for r in cluster.query(f"SELECT id FROM jobs WHERE state = 'running' AND claimed_by = '{node_id}'")]
    deliveries = [r[0] for r in cluster.query(
        f"SELECT id FROM deliveries WHERE state = 'sending' AND claimed_by = '{node_id}'")]
    return jobs, deliveries


def still_held(cluster, node_id, jobs, deliveries):
    count = 0
    if jobs:
        count += int(cluster.query(f"SELECT COUNT(*) FROM jobs WHERE id IN ({','.join(jobs)}) "
                                   f"AND state = 'running' AND claimed_by = '{node_id}'")[0][0])
    if deliveries:
        count += int(cluster.query(f"SELECT COUNT(*) FROM deliveries WHERE id IN ({','.join(deliveries)}) "
                                   f"AND state = 'sending' AND claimed_by = '{node_id}'")[0][0])
    return count


class Killer:
    """kill -9 a random node, note its held work, restart it after a pause; a watcher per kill
    times how long until another node (or the restarted one) has its work again."""

    def __init__(self, cluster, kills, restart_after_s, gap_s):
        self.cluster, self.kills, self.restart_after_s, self.gap_s = cluster, kills, restart_after_s, gap_s
        self.takeovers = []   # (seconds, before the restart?)
        self.kills_with_work = 0
        self.errors = []
        self.watchers = []

    def watch(self, node_id, killed_at, jobs, deliveries, restarted_at):
        deadline = killed_at + 120
        while time.time() < deadline:
            try:
                if still_held(self.cluster, node_id, jobs, deliveries) == 0:
                    seconds = time.time() - killed_at
                    self.takeovers.append((seconds, restarted_at[0] is None or time.time() < restarted_at[0]))
                    return
            except RuntimeError:
                pass
            time.sleep(0.1)
        self.errors.append(f"{node_id}: work held since its kill not taken over in 120 s: jobs {jobs}, deliveries {deliveries}")

    def victim(self, wait_s=3.0):
        """A random node among those holding a running job or a sending delivery, waiting up to
        wait_s for one (so that most kills interrupt work and time a take-over), else any node."""
        deadline = time.time() + wait_s
        while True:
            busy = {r[0] for r in self.cluster.query(
                "SELECT claimed_by FROM jobs WHERE state = 'running' UNION "
                "SELECT claimed_by FROM deliveries WHERE state = 'sending'")}
            candidates = [n for n in self.cluster.nodes if n.node_id in busy and n.alive()]
            if candidates or time.time() > deadline:
                return random.choice(candidates or self.cluster.nodes)
            time.sleep(0.05)

    def run(self):
        for k in range(self.kills):
            time.sleep(random.uniform(*self.gap_s))
            if STOP.is_set():
                return
            node = self.victim()
            node.kill()
            killed_at = time.time()
            jobs, deliveries = held_work(self.cluster, node.node_id)
            restarted_at = [None]
            if jobs or deliveries:
                self.kills_with_work += 1
                w = threading.Thread(target=self.watch, args=(node.node_id, killed_at, jobs, deliveries, restarted_at),
                                     daemon=True)
                w.start()
                self.watchers.append(w)
            print(f"kill {k + 1}: {node.node_id} holding {len(jobs)} running jobs, {len(deliveries)} sending deliveries",
                  flush=True)
            if STOP.wait(self.restart_after_s):
                return
            restarted_at[0] = time.time()
            try:
                node.start()
            except RuntimeError as e:
                self.errors.append(str(e))
            if STOP.is_set():  # stopped while it started: the cluster's close may have passed it
                node.kill()
        for w in self.watchers:
            w.join()


def settle(cluster, timeout_s):
    """Until no work is left for 3 s in a row: nothing queued, running, pending or sending, and
    every instance covered by its study's coverage."""
    deadline, calm_since = time.time() + timeout_s, None
    while time.time() < deadline:
        busy = int(cluster.query(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')) + "
            "(SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'sending')) + "
            "(SELECT COUNT(*) FROM instances i WHERE i.id > COALESCE("
            "(SELECT covered_instance_id FROM study_coverage c WHERE c.study_id = i.study_id), 0))")[0][0])
        if busy == 0:
            calm_since = calm_since or time.time()
            if time.time() - calm_since >= 3:
                return True
        else:
            calm_since = None
        time.sleep(0.5)
    return False


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def check(cluster, acknowledged):
    """The end-state checks; returns {name: count} (all must be 0) and informational figures."""
    rows = {uid: path for uid, path in cluster.query("SELECT sop_instance_uid, COALESCE(file_path, '') FROM instances")}

    def present(path):
        return path and os.path.exists(path if os.path.isabs(path) else os.path.join(cluster.data_dir, path))

    lost = sorted(uid for uid in acknowledged if uid not in rows or not present(rows[uid]))
    duplicate_jobs = cluster.query("SELECT study_id, max_instance_id, COUNT(*) FROM jobs WHERE state = 'done' "
                                   "GROUP BY study_id, max_instance_id HAVING COUNT(*) > 1")
    uncovered = [r[0] for r in cluster.query(
        "SELECT i.sop_instance_uid FROM instances i WHERE i.id > COALESCE("
        "(SELECT MAX(max_instance_id) FROM jobs j WHERE j.study_id = i.study_id AND j.state = 'done'), 0)")]
    uncovered = [uid for uid in uncovered if uid in acknowledged]
    jobs_by_state = dict(cluster.query("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    deliveries_by_state = dict(cluster.query("SELECT state, COUNT(*) FROM deliveries GROUP BY state"))
    expected = {r[0]: r[1] for r in cluster.query(
        "SELECT o.sop_instance_uid, o.kind FROM outputs o JOIN jobs j ON j.id = o.job_id WHERE j.state = 'done'")}
    all_outputs = {r[0] for r in cluster.query("SELECT sop_instance_uid FROM outputs")}
    received = cluster.destination_received()
    received_set = set(received)
    missing = sorted(set(expected) - received_set)
    # A result may arrive twice only when a send of it was interrupted (its node killed).
    interrupted = {r[0] for r in cluster.query(
        "SELECT DISTINCT o.sop_instance_uid FROM outputs o JOIN deliveries d ON d.output_id = o.id "
        "JOIN delivery_attempts a ON a.delivery_id = d.id WHERE a.outcome = 'interrupted'")}
    duplicated = {uid for uid in received_set if received.count(uid) > 1}
    unexplained_duplicates = sorted(duplicated - interrupted)
    unexpected = sorted(received_set - all_outputs)
    kinds = {}
    for kind in expected.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    analysed = int(cluster.query("SELECT COUNT(*) FROM job_images ji JOIN jobs j ON j.id = ji.job_id "
                                 "WHERE j.state = 'done' AND ji.decision = 'analysed'")[0][0])
    failures = {
        "acknowledged-but-lost": len(lost),
        "duplicate done jobs (same study version)": len(duplicate_jobs),
        "acknowledged instances not covered by a done job": len(uncovered),
        "jobs stuck (queued or running)": int(jobs_by_state.get("queued", 0)) + int(jobs_by_state.get("running", 0)),
        "jobs failed": int(jobs_by_state.get("failed", 0)),
        "deliveries not delivered (pending, sending or dead)": sum(
            int(deliveries_by_state.get(s, 0)) for s in ("pending", "sending", "dead")),
        "results missing at the destination": len(missing),
        "results at the destination that no output row names": len(unexpected),
        "duplicate results without an interrupted send": len(unexplained_duplicates),
    }
    info = {
        "jobs by state": jobs_by_state,
        "studies with more than one done job": int(cluster.query(
            "SELECT COUNT(*) FROM (SELECT study_id FROM jobs WHERE state = 'done' GROUP BY study_id "
            "HAVING COUNT(*) > 1) s")[0][0]),
        "images analysed (done jobs)": analysed,
        "expected results by kind": kinds,
        "results received": len(received),
        "duplicate results (same SOP Instance UID)": len(received) - len(received_set),
        "instances by receiving node": dict(cluster.query(
            "SELECT received_by, COUNT(*) FROM instances GROUP BY received_by ORDER BY 1")),
        "done jobs by node": dict(cluster.query(
            "SELECT COALESCE(claimed_by, '-'), COUNT(*) FROM jobs WHERE state = 'done' GROUP BY 1 ORDER BY 1")),
    }
    details = {"lost": lost[:10], "duplicate jobs": duplicate_jobs[:10], "uncovered": uncovered[:10],
               "missing": missing[:10], "unexpected": unexpected[:10],
               "unexplained duplicates": unexplained_duplicates[:10]}
    return failures, info, details


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True, help="the evax-node binary")
    parser.add_argument("--test-scp", default=os.path.join(REPO, "build/tests/support/evax-test-scp"),
                        help="the destination (evax-test-scp from tests/support)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--restart-after", type=float, default=6.0,
                        help="seconds a killed node stays down (above lease_s, so others take over its work)")
    parser.add_argument("--lease", type=int, default=4, help="cluster.lease_s (heartbeat_s is 1)")
    parser.add_argument("--quiet-period", type=int, default=2, help="study.quiet_period_s")
    parser.add_argument("--send-over", type=float, default=None,
                        help="spread the studies' first sends over this many seconds (default: the kill loop's span)")
    parser.add_argument("--settle-timeout", type=float, default=300)
    parser.add_argument("--workdir", help="keep everything here (logs, configs, data)")
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    # `timeout` and CTest stop with SIGTERM: unwind so the cluster's processes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    random.seed(args.seed)
    numpy.random.seed(args.seed)

    wall_start = time.time()
    gap = (0.5, 2.5)
    kill_span = args.kills * (args.restart_after + sum(gap) / 2 + 2)
    send_over = args.send_over if args.send_over is not None else kill_span
    cluster = Cluster(args.node, args.test_scp, nodes=args.nodes, workdir=args.workdir, quiet_period_s=args.quiet_period,
                      heartbeat_s=1, lease_s=args.lease)
    ok = False
    try:
        studies = make_studies(os.path.join(cluster.workdir, "in"), args.studies)
        cluster.start()
        print(f"cluster: {args.nodes} nodes, PostgreSQL on {cluster.postgres.port}, HAProxy on {cluster.haproxy_port}, "
              f"workdir {cluster.workdir}", flush=True)
        senders = Senders(cluster.store_port(), studies, args.senders, send_over / max(1, args.studies))
        killer = Killer(cluster, args.kills, args.restart_after, gap)
        sending = threading.Thread(target=senders.run, daemon=True)
        killing = threading.Thread(target=killer.run, daemon=True)
        sending.start()
        killing.start()
        sending.join()
        killing.join()
        for node in cluster.nodes:
            if not node.alive():
                node.start()
        settled = settle(cluster, args.settle_timeout)
        failures, info, details = check(cluster, senders.acknowledged)
        failures["instances never acknowledged (after retries)"] = len(senders.never_acknowledged)
        failures["kill loop errors"] = len(killer.errors)
        failures["cluster did not settle"] = 0 if settled else 1
        wall = time.time() - wall_start
        ingest_s = senders.finished - senders.started
        takeover = [t for t, _ in killer.takeovers]

        print(f"nodes: {args.nodes}, studies: {args.studies}, senders: {args.senders}, kills: {args.kills} "
              f"(restart after {args.restart_after} s, lease {args.lease} s, heartbeat 1 s)")
        print(f"instances acknowledged: {len(senders.acknowledged)} in {senders.attempts} associations")
        for name, value in info.items():
            print(f"{name}: {value}")
        print(f"kills holding work: {killer.kills_with_work}")
        print(f"take-overs timed: {len(takeover)}")
        print(f"take-overs before the killed node's restart: {sum(1 for _, before in killer.takeovers if before)}")
        print(f"takeover p50: {percentile(takeover, 50):.2f} s")
        print(f"takeover p99: {percentile(takeover, 99):.2f} s")
        print(f"ingest: {ingest_s:.1f} s, {len(senders.acknowledged) / ingest_s:.1f} instances/s (paced over "
              f"{send_over:.0f} s)")
        print(f"wall time: {wall:.1f} s")
        for error in killer.errors:
            print(f"kill loop: {error}")
        for name, value in details.items():
            if value:
                print(f"{name} (first 10): {value}")
        for name, value in failures.items():
            print(f"{name}: {value}")
        ok = all(v == 0 for v in failures.values())
        print("RESULT: " + ("PASS" if ok else "FAIL"), flush=True)
    finally:
        STOP.set()
        cluster.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
