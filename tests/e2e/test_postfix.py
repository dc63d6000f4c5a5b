"""A real Postfix as a journal source, and Postfix's smtp-source as a load
generator, against a real `vellum serve` (issue 4).

Postfix (the Debian package, installed by script/test with "No configuration")
is started here with its own config, queue and data directories, nothing
listening, no chroot: messages go in through its sendmail, always_bcc copies
each to the archive address, which is relayed to Vellum with opportunistic
STARTTLS; the original recipients are discarded.  Every message submitted
must arrive, once, over TLS, with the journal recipient in its envelope and
its body intact (dot lines, 8-bit text, a UTF-8 sender).  Then smtp-source
runs 16 sessions x 2000 messages (16 x 100 under VELLUM_TEST_SCALE=small) and
every one must be stored."""

import os
import re
import shutil
import subprocess
import tempfile
import time

from smtp_e2e import Postfix, Reader, make_cert, metrics, metric_value, postfix_available
from vellumtest import Server, Tap, scale, wait_until

t = Tap()
if not postfix_available():
    t.skip("postfix journal source", "postfix not installed or not root")
    t.done()

certdir = tempfile.mkdtemp(prefix="vellum-cert-")
cert, key = make_cert(certdir)
archives = "[archive \"journal\"]\naddresses = journal@archive.test *@load.test\n"
extra = "[smtp]\nhostname = vellum.test\ntls_cert = %s\ntls_key = %s\n" \
        "max_connections = 200\nmax_per_client = 200\n" % (cert, key)
N = scale(40, 10)
SESSIONS, PER_SESSION = 16, scale(2000, 100)

with Server(t, archives=archives, config_extra=extra) as s:
    rd = Reader(s)
    host, port = s.smtp_addr()
    # Not under the server's 0700 temp dir: Postfix's own user must reach it.
    pfdir = tempfile.mkdtemp(prefix="vellum-postfix-")
    pf = Postfix(pfdir, "archive.test", host, port, bcc="journal@archive.test")
    err = pf.start()
    if not t.ok(err is None, "a private Postfix starts (own config, queue, data dirs)",
                (err or "") + pf.log()[-2000:]):
        pf.stop()
        shutil.rmtree(pfdir, ignore_errors=True)
        t.bail("cannot run Postfix")
    try:
        markers = {}
        for i in range(N):
            marker = "marker-%04d-%d" % (i, os.getpid())
            sender = "user%d@source.test" % i
            body = ("From: %s\nTo: bob%d@example.org\nSubject: journal test %d\n\n"
                    "Body of %s.\n.a line with a leading dot\n..two dots\n.\nend\n"
                    % (sender, i, i, marker))
            flags = []
            data = body.encode()
            if i == 1:
                data = data.replace(b"end\n", b"8-bit: Gr\xc3\xbc\xc3\x9fe, caf\xc3\xa9\nend\n")
                data = data.replace(b"Subject:", b"MIME-Version: 1.0\nContent-Type: text/plain; "
                                    b"charset=utf-8\nContent-Transfer-Encoding: 8bit\nSubject:")
                flags = ["-B", "8BITMIME"]
            if i == 2:
                sender = "j\u00f6rg@source.test"
            rc = pf.sendmail(sender, ["bob%d@example.org" % i], data, *flags)
            markers[marker] = (i, sender, data)
            if rc != 0:
                t.diag("sendmail %d: rc %d" % (i, rc))

        def all_in():
            return (metric_value(metrics(s), "vellum_smtp_archive_messages_total",
                                 listener="default", archive="journal", code="250") or 0) >= N
        t0 = time.monotonic()
        wait_until(all_in, 120, 0.25)
        wait_until(pf.queue_empty, 30, 0.25)
        t.ok(pf.queue_empty(), "Postfix delivered everything (queue empty after %.1fs)" %
             (time.monotonic() - t0), pf.log()[-3000:])

        found, tls_ok, rcpt_ok, bodies_ok, utf8_ok, eight_ok = {}, 0, 0, 0, False, False
        for seq in range(1, N + 3):
            mid = "journal-%d" % seq
            d = rd.detail(mid)
            if not d:
                continue
            raw = rd.raw(mid) or b""
            m = re.search(rb"marker-\d{4}-\d+", raw)
            if not m:
                continue
            found.setdefault(m.group(0).decode(), []).append(mid)
            arr = d["arrivals"][0]
            i, sender, data = markers.get(m.group(0).decode(), (None, None, b""))
            tls_ok += bool((arr.get("tls") or {}).get("version", "").startswith("TLS"))
            rcpt_ok += arr.get("rcpt") == ["journal@archive.test"]
            # Postfix adds its headers; the body it was given arrives as sent
            # (lines end in CRLF on the wire, dots unstuffed).
            body = data.split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
            bodies_ok += raw.endswith(body)
            if not raw.endswith(body) and os.environ.get("VELLUM_TEST_DEBUG"):
                t.diag("%r\n%r" % (raw, body))
            if i == 1 and os.environ.get("VELLUM_TEST_DEBUG"):
                t.diag(repr(arr))
            if i == 2:
                utf8_ok = arr.get("mail_from") == sender and "smtputf8" in arr.get("flags", [])
            if i == 1:
                eight_ok = "8bitmime" in arr.get("flags", []) and b"Gr\xc3\xbc\xc3\x9fe" in raw
        t.eq(sorted(found), sorted(markers), "every message submitted with sendmail arrived")
        t.ok(all(len(v) == 1 for v in found.values()), "each exactly once")
        t.eq(tls_ok, N, "every one over STARTTLS (opportunistic TLS recorded in the envelope)")
        t.eq(rcpt_ok, N, "the journal address is the envelope recipient (always_bcc)")
        t.eq(bodies_ok, N, "bodies intact: leading-dot lines round-tripped through Postfix")
        t.ok(eight_ok, "8-bit body sent with BODY=8BITMIME, stored as sent")
        t.ok(utf8_ok, "a UTF-8 sender relayed with SMTPUTF8, kept in the envelope")
        log = pf.log()
        t.ok("TLS connection established to 127.0.0.1" in log,
             "Postfix's log shows the TLS connection", log[-2000:])
        t.ok(re.search(r"status=sent \(250 2\.0\.0 Stored: journal-\d+\)", log),
             "Postfix's log shows our 250 with the id")
    finally:
        pf.stop()
    t.ok(not pf.running(), "Postfix stopped")
    shutil.rmtree(pfdir, ignore_errors=True)

    # ---- smtp-source: 16 sessions x 2000 messages ----
    total = SESSIONS * PER_SESSION
    before = metric_value(metrics(s), "vellum_smtp_messages_total", listener="default",
                          code="250") or 0
    t0 = time.monotonic()
    p = subprocess.run(["smtp-source", "-s", str(SESSIONS), "-m", str(total), "-d",
                        "-l", "2048", "-M", "load.test", "-f", "src@load.test",
                        "-t", "journal@load.test", "%s:%d" % (host, port)],
                       capture_output=True, timeout=900)
    took = time.monotonic() - t0
    t.ok(p.returncode == 0, "smtp-source %d x %d finished (%.1fs, %.0f msg/s)" %
         (SESSIONS, PER_SESSION, took, total / took if took else 0),
         p.stderr.decode()[-1500:])
    m = metrics(s)
    after = metric_value(m, "vellum_smtp_messages_total", listener="default", code="250") or 0
    t.eq(int(after - before), total, "every message got 250 (durably stored)")
    refused = [ln for ln in m.splitlines() if ln.startswith("vellum_smtp_messages_total") and
               'code="250"' not in ln]
    t.ok(not refused, "no message refused", refused)
    # every 250 is a record in the store: the archive's arrivals grew by as many
    st = s.api("GET", "/api/v1/messages/journal-1", session=rd.sess)
    t.eq(st.status, 200, "the store answers after the load")

t.done()
