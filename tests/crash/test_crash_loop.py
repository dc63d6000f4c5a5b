"""Crash loop (issue 3): a process appends continuously from four threads —
with small segments, so seals, packing and deletions happen all the time —
while this test kill -9s it at random moments, over and over (200 cycles;
50 under VELLUM_TEST_SCALE=small).  Every append it acknowledged must then be
present with the same SHA-256, every deletion it confirmed must have
happened, `verify` must find nothing wrong, and appends must go on."""

import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("VELLUM_SRCDIR", "."), "tests", "e2e"))
from vellumtest import Tap, scale  # noqa: E402

t = Tap()
victim = os.path.join(os.environ.get("VELLUM_BUILDDIR", "."), "tests", "crash", "store_victim")
if not os.access(victim, os.X_OK):
    t.bail("no %s" % victim)
cycles = scale(200, 50)
rng = random.Random(int(os.environ.get("VELLUM_CRASH_SEED", time.time())))
seed_note = rng.randrange(1 << 30)
rng.seed(seed_note)
t.diag("random seed %d (VELLUM_CRASH_SEED to repeat)" % seed_note)

d = tempfile.mkdtemp(prefix="vellum-crash-")
if subprocess.run([victim, d, "init"]).returncode != 0:
    t.bail("store_victim init failed")

acked = {}        # id -> sha256 hex
maybe_gone = set()
gone = set()
killed = 0
early_exits = []
total_lines = 0


def reader(proc, lines):
    for raw in proc.stdout:
        lines.append(raw.decode("ascii", "replace"))


start = time.time()
for cycle in range(cycles):
    proc = subprocess.Popen([victim, d, "append", str(cycle + 1)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    lines = []
    th = threading.Thread(target=reader, args=(proc, lines))
    th.start()
    # Random moments: during recovery at start, during appends, seals,
    # packing and deletions.
    time.sleep(rng.uniform(0.002, 0.12))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        killed += 1
    proc.wait()
    th.join()
    err = proc.stderr.read().decode("utf-8", "replace")
    if proc.returncode != -signal.SIGKILL:
        early_exits.append((cycle, proc.returncode, err[-500:]))
    for line in lines:
        total_lines += 1
        parts = line.split()
        if not parts or not line.endswith("\n"):
            continue  # a line cut by the kill
        if parts[0] == "ACK" and len(parts) == 3:
            acked[int(parts[1])] = parts[2]
        elif parts[0] == "DEL":
            maybe_gone.update(int(x) for x in parts[1:])
        elif parts[0] == "GONE":
            gone.update(int(x) for x in parts[1:])
elapsed = time.time() - start

t.ok(killed >= cycles * 0.9, "%d cycles, %d killed with SIGKILL mid-flight (%.1fs)" %
     (cycles, killed, elapsed))
t.ok(not early_exits, "the appender never stopped on its own", early_exits[:3])
t.ok(len(acked) >= cycles, "%d appends acknowledged across the crashes" % len(acked))
t.ok(len(gone) > 0, "%d deletions confirmed, %d attempted" % (len(gone), len(maybe_gone)))

expect = []
for i, sha in sorted(acked.items()):
    if i in gone:
        expect.append("gone %d\n" % i)
    elif i not in maybe_gone:
        expect.append("%d %s\n" % (i, sha))
p = subprocess.run([victim, d, "check"], input="".join(expect).encode(), capture_output=True,
                   timeout=600)
out = p.stdout.decode("utf-8", "replace")
err = p.stderr.decode("utf-8", "replace")
t.diag(out.strip())
fields = dict(kv.split("=", 1) for kv in out.split()[1:] if "=" in kv) if out.startswith(
    "RESULT") else {}
t.ok(fields.get("missing") == "0" and fields.get("mismatched") == "0" and
     int(fields.get("present", "0")) > 0,
     "every acknowledged append is present with the same SHA-256", err[-2000:])
t.ok(fields.get("not_gone") == "0", "every confirmed deletion happened", err[-2000:])
t.ok(fields.get("problems") == "0", "verify is clean after %d crashes" % killed, err[-3000:])
t.ok(fields.get("appends") == "ok", "appends go on")
t.ok(p.returncode == 0, "check exits 0")

if os.environ.get("VELLUM_KEEP_TMP") or t.failed:
    t.diag("kept " + d)
else:
    subprocess.run(["rm", "-rf", d])
t.done()
