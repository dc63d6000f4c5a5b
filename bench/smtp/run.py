#!/usr/bin/env python3
"""bench/smtp/run.py — SMTP ingest throughput: Vellum against Postfix's smtp-sink.

Usage: bench/smtp/run.py [--vellum PATH] [--messages16 N] [--messages1 N] [--quick]

In one run, Postfix's smtp-source sends the same two workloads to three peers:

  workloads   16 sessions x 40 KB messages      (-s 16 -l 40960 -d)
              1 session   x 4 KB messages       (-s 1  -l 4096  -d)
  peers       smtp-sink                          (accepts and discards: the
                                                  protocol's ceiling here)
              vellum serve, indexer running      (every message durably stored,
                                                  fsync before 250, indexed meanwhile)
              vellum serve, indexer stopped      (started with VELLUM_SERVE_NO_INDEXER=1:
                                                  no indexer process at all)

-d keeps each session's connection for all its messages, as journal sources
do.  smtp-source's messages differ (Message-Id), so the store's dedup does
not shortcut anything; their payload is one repeated byte, which compresses
far better than real mail (zstd has little work).

Vellum runs from a fresh data dir on the same disk as /var/tmp (fsync is
real).  Every 250 is checked against the server's counters: all messages
stored.  Printed per run: msg/s, MB/s, ratio to smtp-sink, the mean time
from the end of a message's data to the store's durable answer (the SMTP
side's vellum_smtp_commit_seconds histogram), and the CPU
seconds of the SMTP thread, of the busiest other thread of `vellum serve`
(the store writer under load) and of the indexer, to show where time goes.
Needs root (smtp-sink switches to the postfix user) and postfix installed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def cpu_threads(pid):
    """{tid: (name, cpu seconds)} of a process's threads."""
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / CLK)
    except OSError:
        pass
    return out


def cpu_delta(before, after):
    d = {}
    for tid, (name, c) in after.items():
        d[tid] = (name, c - before.get(tid, (name, 0.0))[1])
    return d


def smtp_source(port, sessions, count, length):
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(count), "-d", "-l", str(length),
           "-M", "bench.test", "-f", "src@bench.test", "-t", "journal@bench.test",
           "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True)
    took = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("smtp-source failed: %s" % p.stderr.decode()[-2000:])
    return took


class Sink:
    name = "smtp-sink"

    def start(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["smtp-sink", "-u", "postfix",
                                      "127.0.0.1:%d" % self.port, "1024"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_port(self.port):
            sys.exit("smtp-sink did not start")

    def before(self):
        pass

    def after(self, count):
        return {}

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Vellum:
    def __init__(self, binary, indexer):
        self.bin = binary
        self.indexer = indexer
        self.name = "vellum (indexer %s)" % ("running" if indexer else "stopped")

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="vellum-bench-", dir="/var/tmp")
        data = os.path.join(self.dir, "var")
        self.conf = os.path.join(self.dir, "vellum.conf")
        with open(self.conf, "w") as f:
            f.write("[storage]\ndata_dir = %s\nmaster_key_file = %s/master.key\n"
                    "min_free = 1G\n[smtp]\nlisten = 127.0.0.1:0\nmax_per_client = 200\n"
                    "[http]\nlisten = 127.0.0.1:0\n" % (data, self.dir))
        env = dict(os.environ, VELLUM_LOG_LEVEL="warn")
        if not self.indexer:
            env["VELLUM_SERVE_NO_INDEXER"] = "1"
        p = subprocess.run([self.bin, "-c", self.conf, "init"], capture_output=True, env=env)
        if p.returncode:
            sys.exit("vellum init failed: %s" % p.stderr.decode())
        self.log = open(os.path.join(self.dir, "serve.log"), "wb")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf, "serve"], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        ports = os.path.join(data, "run", "ports")
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline and "http " not in text:
            time.sleep(0.05)
            try:
                text = open(ports).read()
            except OSError:
                pass
        m = re.search(r"^smtp default 127\.0\.0\.1:(\d+)$", text, re.M)
        h = re.search(r"^http (\S+)$", text, re.M)
        if not m or not h:
            sys.exit("vellum serve did not start")
        self.port, self.http = int(m.group(1)), h.group(1)
        self.indexer_pid = None
        deadline = time.monotonic() + 10
        while self.indexer and not self.indexer_pid and time.monotonic() < deadline:
            kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True)
            pids = [int(x) for x in kids.stdout.split()]
            self.indexer_pid = pids[0] if pids else None
            time.sleep(0.05)

    def metrics(self):
        text = urllib.request.urlopen("http://%s/metrics" % self.http).read().decode()
        n, csum, ccount = 0, 0.0, 0
        for line in text.splitlines():
            if line.startswith("vellum_smtp_messages_total{") and 'code="250"' in line:
                n += int(float(line.split()[-1]))
            elif line.startswith("vellum_smtp_commit_seconds_sum{"):
                csum += float(line.split()[-1])
            elif line.startswith("vellum_smtp_commit_seconds_count{"):
                ccount += int(float(line.split()[-1]))
        return n, csum, ccount

    def stored(self):
        return self.metrics()[0]

    def before(self):
        self.n0, self.csum0, self.ccount0 = self.metrics()
        self.cpu0 = cpu_threads(self.proc.pid)
        self.icpu0 = cpu_threads(self.indexer_pid) if self.indexer_pid else {}

    def after(self, count):
        n, csum, ccount = self.metrics()
        n -= self.n0
        commit_ms = (csum - self.csum0) / max(1, ccount - self.ccount0) * 1000
        if n != count:
            sys.exit("%s: %d of %d messages got 250" % (self.name, n, count))
        d = cpu_delta(self.cpu0, cpu_threads(self.proc.pid))
        smtp = sum(c for name, c in d.values() if name == "vellum-smtp")
        others = sorted((c for name, c in d.values() if name != "vellum-smtp"), reverse=True)
        idx = sum(c for _, c in cpu_delta(self.icpu0, cpu_threads(self.indexer_pid)).values()) \
            if self.indexer_pid else 0.0
        return {"commit_ms": commit_ms, "cpu_smtp": smtp, "cpu_busiest_other": others[0] if others else 0.0,
                "cpu_serve_total": sum(c for _, c in d.values()), "cpu_indexer": idx}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vellum", default=os.environ.get("VELLUM_BIN",
                                                       os.path.join(ROOT, "build", "vellum")))
    ap.add_argument("--messages16", type=int, default=8000,
                    help="messages in the 16 x 40 KB run (default 8000)")
    ap.add_argument("--messages1", type=int, default=2000,
                    help="messages in the 1 x 4 KB run (default 2000)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the messages")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat every peer this many times, interleaved, and report the "
                         "median (the machine is shared: default 1)")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    if a.quick:
        a.messages16, a.messages1 = a.messages16 // 10, a.messages1 // 10
    for tool in ("smtp-source", "smtp-sink"):
        if not shutil.which(tool):
            sys.exit("%s not found (apt-get install postfix)" % tool)
    if not os.access(a.vellum, os.X_OK):
        sys.exit("no vellum binary at %s (build first, or --vellum)" % a.vellum)

    workloads = [("16 x 40 KB", 16, a.messages16, 40960), ("1 x 4 KB", 1, a.messages1, 4096)]
    peers = [Sink(), Vellum(a.vellum, True), Vellum(a.vellum, False)]
    runs = {}
    for rnd in range(a.rounds):
        for peer in peers:
            peer.start()
            try:
                # warm-up: connections, the first segment, caches
                smtp_source(peer.port, 4, 200, 4096)
                for wname, sessions, count, length in workloads:
                    peer.before()
                    took = smtp_source(peer.port, sessions, count, length)
                    extra = peer.after(count)
                    runs.setdefault((peer.name, wname), []).append(
                        dict(peer=peer.name, workload=wname, messages=count, seconds=took,
                             msgs=count / took, mbs=count * length / took / 1e6, **extra))
            finally:
                peer.stop()
    results = []
    for key, rs in runs.items():
        rs.sort(key=lambda r: r["msgs"])
        med = dict(rs[len(rs) // 2])
        med["all_msgs"] = [round(r["msgs"]) for r in rs]
        results.append(med)

    sink = {r["workload"]: r["msgs"] for r in results if r["peer"] == "smtp-sink"}
    print("%-28s %-11s %7s %7s %7s %6s %9s   %s" % (
        "peer", "workload", "msgs", "msg/s", "MB/s", "ratio", "commit ms",
        "cpu s: smtp / busiest other / serve total / indexer"))
    for r in results:
        r["ratio"] = r["msgs"] / sink[r["workload"]]
        cpu, commit = "", ""
        if "cpu_smtp" in r:
            cpu = "%.1f / %.1f / %.1f / %.1f" % (r["cpu_smtp"], r["cpu_busiest_other"],
                                                 r["cpu_serve_total"], r["cpu_indexer"])
            commit = "%.2f" % r["commit_ms"]
        print("%-28s %-11s %7d %7.0f %7.1f %5.2fx %9s   %s" % (
            r["peer"], r["workload"], r["messages"], r["msgs"], r["mbs"], r["ratio"], commit,
            cpu))
    if a.rounds > 1:
        print("(median of %d interleaved rounds; msg/s of every round in --json)" % a.rounds)
    print("load average at the end: %s" % open("/proc/loadavg").read().split()[:3])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
