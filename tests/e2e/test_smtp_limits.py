"""SMTP limits and concurrency through a real `vellum serve` (issue 4): 1000 idle
connections held (max_connections and max_per_client raised) while a normal
client is still served promptly, with the server's memory bounded; stalled
and non-reading clients never delay others; a 1-byte-per-second client is cut
at session_timeout and a silent one at idle_timeout (421 4.4.2);
max_connections and max_per_client answer 421 4.7.0."""

import base64
import os
import socket
import threading
import time

from smtp_e2e import Raw, Reader, greet, stored_ids
from vellumtest import Server, Tap, make_message, scale

t = Tap()
IDLE = scale(1000, 300)

extra = ("[smtp]\nmax_connections = %d\nmax_per_client = %d\n"
         "[listener \"slow\"]\nlisten = 127.0.0.1:0\nidle_timeout = 2s\nsession_timeout = 5s\n"
         "[listener \"few\"]\nlisten = 127.0.0.1:0\nmax_connections = 3\n"
         "[listener \"perclient\"]\nlisten = 127.0.0.1:0\nmax_per_client = 2\n"
         "[listener \"auth\"]\nlisten = 127.0.0.1:0\nauth_plain_on_loopback = yes\n"
         % (IDLE + 100, IDLE + 100))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed_message(s, subject, listener="default"):
    """Sends one message; returns (seconds, ids, bytes)."""
    msg = make_message(subject, "Served while others wait.")
    t0 = time.monotonic()
    c = greet(s, listener)
    c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\nDATA\r\n")
    [c.reply() for _ in range(3)]
    c.send(msg + b".\r\n")
    r = c.reply()
    c.cmd("QUIT")
    c.close()
    return time.monotonic() - t0, stored_ids(r), msg


with Server(t, config_extra=extra) as s:
    rd = Reader(s)
    pid = s.proc.pid
    rss0 = rss_kb(pid)

    # ---- many idle connections ----
    host, port = s.smtp_addr()
    socks = []
    t0 = time.monotonic()
    for i in range(IDLE):
        so = socket.create_connection((host, port), timeout=30)
        socks.append(so)
    greeted = 0
    for so in socks:
        try:
            if so.recv(512).startswith(b"220 "):
                greeted += 1
        except OSError:
            pass
    t.eq(greeted, IDLE, "%d concurrent idle sessions all greeted (%.1fs)" %
         (IDLE, time.monotonic() - t0))
    took, ids, msg = timed_message(s, "while %d idle" % IDLE)
    t.ok(ids and rd.matches(ids[0], msg) and took < 5,
         "a normal client is served with %d idle connections open (%.2fs)" % (IDLE, took))
    m = s.http("GET", "/metrics").body.decode()
    active = [ln for ln in m.splitlines() if ln.startswith("vellum_smtp_sessions_active")]
    t.ok(active and float(active[0].split()[-1]) >= IDLE,
         "sessions_active gauge shows them", active)
    rss1 = rss_kb(pid)
    per = (rss1 - rss0) / IDLE
    t.ok(per < 64, "memory bounded: %.1f KiB per idle session (RSS %d -> %d KiB)" %
         (per, rss0, rss1))
    for so in socks:
        so.close()
    socks = []

    # ---- a stalled client and a client that never reads do not delay others ----
    stalled = greet(s)
    stalled.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\nDATA\r\n")
    [stalled.reply() for _ in range(3)]
    stalled.send(b"Subject: stalled\r\n\r\nhalf a mess")  # and then nothing
    flooder = greet(s)
    flooder.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stop = threading.Event()

    def flood():
        try:
            while not stop.is_set():
                flooder.sock.sendall(b"NOOP\r\n" * 1000)
        except OSError:
            pass

    th = threading.Thread(target=flood, daemon=True)
    th.start()
    time.sleep(0.5)
    took, ids, msg = timed_message(s, "beside stalled and flooding clients")
    t.ok(ids and rd.matches(ids[0], msg) and took < 2,
         "a stalled DATA and a non-reading pipeliner do not delay others (%.2fs)" % took)
    stop.set()
    flooder.close()
    stalled.close()

    # ---- password checks (Argon2id, ~0.1 s each) run beside the loop ----
    s.vellum("user", "add", "feeder", "--role", "ingest", "--archive", "*",
             "--password-stdin", input=b"ingest horse battery\n", check=True)
    guessers = [greet(s, "auth") for _ in range(8)]
    bad = base64.b64encode(b"\0feeder\0not the password").decode()
    for g in guessers:
        g.send("AUTH PLAIN %s\r\n" % bad)
    took, ids, msg = timed_message(s, "beside 8 password checks")
    t.ok(ids and rd.matches(ids[0], msg) and took < 1,
         "8 AUTH attempts in progress do not delay a message (%.2fs)" % took)
    answers = [g.reply() for g in guessers]
    t.ok(all(a and a.startswith("535 5.7.8") for a in answers),
         "and each guesser gets its 535 (after the failure delay)", answers)
    for g in guessers:
        g.close()

    # ---- timeouts ----
    slow = greet(s, "slow")
    quiet = greet(s, "slow")
    t0 = time.monotonic()
    cut = None
    data = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\nDATA\r\n"
    # one byte per second: never idle for 2 s, cut at the 5 s session limit
    slow.sock.settimeout(1.0)
    got = b""
    for i in range(12):
        try:
            slow.sock.sendall(data[i:i + 1])
        except OSError:
            break
        try:
            chunk = slow.sock.recv(4096)
            if chunk == b"":
                break
            got += chunk
            if b"421 4.4.2" in got:
                cut = time.monotonic() - t0
                break
        except socket.timeout:
            pass
    t.ok(cut is not None and 4 <= cut <= 8,
         "a 1-byte-per-second client is cut at session_timeout (5s): %s" %
         ("%.1fs" % cut if cut else "not cut"), got)
    r = quiet.reply()
    t.ok(r and r.startswith("421 4.4.2"), "a silent client is cut at idle_timeout", r)
    slow.close()
    quiet.close()

    # ---- connection limits ----
    few = [Raw(s.smtp_addr("few")) for _ in range(3)]
    t.ok(all((c.reply() or "").startswith("220") for c in few), "three connections on 'few'")
    c4 = Raw(s.smtp_addr("few"))
    r = c4.reply()
    t.ok(r and r.startswith("421 4.7.0"), "max_connections reached: 421 4.7.0", r)
    t.ok(c4.at_eof(), "and closed")
    for c in few + [c4]:
        c.close()
    pc = [Raw(s.smtp_addr("perclient")) for _ in range(2)]
    [c.reply() for c in pc]
    c3 = Raw(s.smtp_addr("perclient"))
    r = c3.reply()
    t.ok(r and r.startswith("421 4.7.0") and "your address" in r,
         "max_per_client reached: 421 4.7.0", r)
    for c in pc + [c3]:
        c.close()

t.done()
