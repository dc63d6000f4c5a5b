"""Listener traffic policies through a real `vellum serve` (issue 4): denied
networks (IPv4 and IPv6, allow and deny lists: 554 5.7.1 in the greeting),
require_tls (530 5.7.0 before STARTTLS), tls_min_version, unknown recipients
(550 5.1.1), auth = required (530 5.7.0; grants limit the archives an AUTH
identity feeds), a listener restricted to an archive, per-listener size
limits; the per listener x archive counters and last-received times in
/metrics; 452 4.3.1 at MAIL FROM when short of space; 421 on shutdown; and
`vellum serve` refusing clearly when it cannot get the open files it needs."""

import base64
import os
import re
import signal
import ssl
import subprocess
import tempfile
import time

from smtp_e2e import Raw, Reader, client_tls_context, greet, make_cert, metrics, \
    metric_value, stored_ids
from vellumtest import VELLUM_BIN, Server, Tap, wait_until

t = Tap()
certdir = tempfile.mkdtemp(prefix="vellum-cert-")
cert, key = make_cert(certdir)
PASSWORD = "ingest horse battery"

archives = ("[archive \"default\"]\naddresses = *@example.com\n"
            "[archive \"legal\"]\naddresses = *@legal.example counsel@example.com\n")
extra = (
    "[smtp]\nhostname = vellum.test\n"
    "[listener \"allow10\"]\nlisten = 127.0.0.1:0\nallow_clients = 10.0.0.0/8 2001:db8::/32\n"
    "[listener \"deny127\"]\nlisten = 127.0.0.1:0\nallow_clients =\n"
    "deny_clients = 192.0.2.0/24 127.0.0.0/8\n"
    "[listener \"v6\"]\nlisten = [::1]:0\nallow_clients = ::1\n"
    "[listener \"v6deny\"]\nlisten = [::1]:0\nallow_clients = ::/0\ndeny_clients = ::1/128\n"
    "[listener \"tls\"]\nlisten = 127.0.0.1:0\nrequire_tls = yes\ntls_cert = %s\ntls_key = %s\n"
    "[listener \"tls13\"]\nlisten = 127.0.0.1:0\ntls_min_version = 1.3\ntls_cert = %s\n"
    "tls_key = %s\n"
    "[listener \"auth\"]\nlisten = 127.0.0.1:0\nauth = required\nauth_plain_on_loopback = yes\n"
    "[listener \"legal\"]\nlisten = 127.0.0.1:0\narchives = legal\nmax_message_size = 2K\n"
    % (cert, key, cert, key))


def send(s, listener, rcpt, body, pre=None):
    """EHLO, optional commands, MAIL/RCPT/DATA; returns every reply."""
    c = greet(s, listener)
    out = [c.greeting]
    for line in pre or []:
        out.append(c.cmd(line))
    c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt)
    out += [c.reply() for _ in range(3)]
    if (out[-1] or "").startswith("354"):
        c.send(body + b".\r\n")
        out.append(c.reply())
    c.close()
    return out


with Server(t, archives=archives, config_extra=extra) as s:
    s.vellum("user", "add", "legalfeed", "--role", "ingest", "--archive", "legal",
             "--password-stdin", input=(PASSWORD + "\n").encode(), check=True)
    rd = Reader(s)

    # ---- denied networks ----
    for name, why in [("allow10", "127.0.0.1 not in allow_clients"),
                      ("deny127", "127.0.0.1 in deny_clients"),
                      ("v6deny", "::1 in deny_clients")]:
        c = Raw(s.smtp_addr(name))
        g = c.reply()
        t.ok(g and g.startswith("554 5.7.1 vellum") or (g or "").startswith("554 5.7.1"),
             "%s: 554 5.7.1 in the greeting (%s)" % (name, why), g)
        c.send("EHLO x\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n")
        r = [c.reply() for _ in range(3)]
        t.ok(r[0].startswith("503") and r[1].startswith("503") and r[2].startswith("221"),
             "%s: only QUIT after a 554 greeting" % name, r)
        c.close()
    r = send(s, "v6", "journal@example.com", b"Subject: v6\r\n\r\nvia ::1\r\n")
    ids = stored_ids(r[-1])
    d = rd.detail(ids[0]) if ids else {}
    arr = (d or {}).get("arrivals", [{}])[0]
    t.ok(ids and arr.get("client_addr") == "::1" and arr.get("listener") == "v6",
         "IPv6 listener, ::1 allowed: stored, client ::1 recorded", r)

    # ---- require_tls ----
    c = greet(s, "tls")
    t.ok("STARTTLS" in c.cmd("EHLO x"), "require_tls listener offers STARTTLS")
    for line in ["MAIL FROM:<a@example.com>", "RCPT TO:<a@example.com>", "DATA", "VRFY x",
                 "AUTH PLAIN"]:
        r = c.cmd(line)
        t.ok(r.startswith("530 5.7.0"), "require_tls: %s before STARTTLS: 530 5.7.0" %
             line.split()[0], r)
    chunk = b"MAIL FROM:<a@example.com>\r\n\r\n"
    c.send(b"BDAT %d\r\n" % len(chunk) + chunk + b"NOOP\r\n")
    r1, r2 = c.reply(), c.reply()
    t.ok(r1.startswith("530 5.7.0") and r2.startswith("250"),
         "require_tls: BDAT refused 530, its bytes consumed", (r1, r2))
    c.cmd("STARTTLS")
    c.starttls()
    c.ehlo()
    c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\nDATA\r\n")
    r = [c.reply() for _ in range(3)]
    c.send(b"Subject: over tls\r\n\r\nx\r\n.\r\n")
    ids = stored_ids(c.reply())
    t.ok(ids and rd.detail(ids[0])["arrivals"][0]["tls"], "require_tls: after STARTTLS, stored")
    c.close()

    # ---- tls_min_version = 1.3 ----
    ctx12 = client_tls_context()
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    c = greet(s, "tls13")
    c.cmd("STARTTLS")
    try:
        c.starttls(ctx12)
        ok12 = True
    except (ssl.SSLError, OSError):
        ok12 = False
    t.ok(not ok12, "tls_min_version = 1.3: a TLS 1.2-only client cannot complete the handshake")
    c.close()
    c = greet(s, "tls13")
    c.cmd("STARTTLS")
    t.eq(c.starttls(), "TLSv1.3", "tls_min_version = 1.3: TLS 1.3 works")
    c.close()

    # ---- unknown recipient ----
    c = greet(s)
    c.cmd("MAIL FROM:<a@example.com>")
    r = c.cmd("RCPT TO:<nobody@nowhere.test>")
    t.ok(r.startswith("550 5.1.1"), "a recipient no archive keeps: 550 5.1.1", r)
    r = c.cmd("DATA")
    t.ok(r.startswith("554 5.5.1"), "and with no recipient left, DATA 554", r)
    c.close()
    r = send(s, "default", "counsel@example.com", b"Subject: both\r\n\r\nx\r\n")
    ids = stored_ids(r[-1])
    t.ok(sorted(i.rsplit("-", 1)[0] for i in ids) == ["default", "legal"],
         "counsel@example.com matches both archives: stored in each", r[-1])

    # ---- auth = required ----
    r = send(s, "auth", "counsel@example.com", b"Subject: x\r\n\r\nx\r\n")
    t.ok(r[2].startswith("530 5.7.0") and r[3].startswith("530 5.7.0"),
         "auth = required: MAIL and RCPT before AUTH get 530 5.7.0", r)
    plain = base64.b64encode(b"\0legalfeed\0" + PASSWORD.encode()).decode()
    r = send(s, "auth", "journal@example.com", b"Subject: x\r\n\r\nx\r\n",
             pre=["AUTH PLAIN " + plain])
    t.ok(r[1].startswith("235 2.7.0") and r[3].startswith("550 5.7.1"),
         "a user with ingest on 'legal' only: a recipient of 'default' gets 550 5.7.1", r)
    r = send(s, "auth", "counsel@example.com", b"Subject: auth legal\r\n\r\nx\r\n",
             pre=["AUTH PLAIN " + plain])
    ids = stored_ids(r[-1])
    t.ok(ids and all(i.startswith("legal-") for i in ids),
         "...and a recipient both archives keep goes to 'legal' only (%s)" % ids, r)
    arr = (rd.detail(ids[0]) or {}).get("arrivals", [{}])[0] if ids else {}
    t.ok(arr.get("auth_id") == "legalfeed" and arr.get("listener") == "auth",
         "envelope: auth identity and listener", arr)
    bad = base64.b64encode(b"\0legalfeed\0wrong").decode()
    c = greet(s, "auth")
    t0 = time.monotonic()
    r1 = c.cmd("AUTH PLAIN " + bad)
    r2 = c.cmd("AUTH PLAIN " + bad)
    r3 = c.cmd("AUTH PLAIN " + bad)
    took = time.monotonic() - t0
    t.ok(r1.startswith("535 5.7.8") and r2.startswith("535 5.7.8"), "wrong password: 535 5.7.8")
    t.ok(r3 and r3.startswith("535 5.7.8") and "421 4.7.0" in (r3 + (c.reply() or "")),
         "third failure: 535 then 421, closed", r3)
    t.ok(took >= 3, "failures are slowed down (%.1fs for three)" % took)
    c.close()
    c = greet(s, "auth")
    r = c.cmd("AUTH LOGIN")
    t.ok(r.startswith("334 VXNlcm5hbWU6"), "AUTH LOGIN asks for the user name", r)
    r = c.cmd("*")
    t.ok(r.startswith("501"), "'*' cancels the exchange", r)
    r = c.cmd("AUTH LOGIN " + base64.b64encode(b"legalfeed").decode())
    t.ok(r.startswith("334 UGFzc3dvcmQ6"), "LOGIN with an initial response asks for the password")
    r = c.cmd(base64.b64encode(PASSWORD.encode()).decode())
    t.ok(r.startswith("235 2.7.0"), "AUTH LOGIN succeeds", r)
    t.ok(c.cmd("AUTH PLAIN " + plain).startswith("503 5.5.1"), "AUTH twice: 503")
    c.close()
    c = greet(s, "auth")
    r = c.cmd("AUTH PLAIN !!!notbase64")
    t.ok(r.startswith("501 5.5.2"), "bad base64: 501 5.5.2", r)
    r = c.cmd("AUTH CRAM-MD5")
    t.ok(r.startswith("504 5.5.4"), "unknown mechanism: 504 5.5.4", r)
    r = c.cmd("AUTH PLAIN " + base64.b64encode(b"admin\0legalfeed\0" +
                                               PASSWORD.encode()).decode())
    t.ok(r.startswith("535"), "PLAIN with a foreign authzid refused", r)
    c.close()

    # ---- listener restricted to an archive; per-listener size ----
    r = send(s, "legal", "journal@example.com", b"Subject: x\r\n\r\nx\r\n")
    t.ok(r[2].startswith("550 5.1.1"), "archives = legal: a 'default' recipient gets 550 5.1.1",
         r)
    r = send(s, "legal", "counsel@example.com", b"Subject: legal only\r\n\r\nx\r\n")
    ids = stored_ids(r[-1])
    t.ok(ids and len(ids) == 1 and ids[0].startswith("legal-"),
         "archives = legal: the shared recipient goes to 'legal' only", r[-1])
    arr = (rd.detail(ids[0]) or {}).get("arrivals", [{}])[0] if ids else {}
    t.eq(arr.get("listener"), "legal", "arrival records its listener")
    r = send(s, "legal", "counsel@example.com", b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n")
    t.ok(r[-1].startswith("552 5.3.4"), "listener max_message_size = 2K: 552 5.3.4", r[-1])
    c = greet(s, "legal")
    t.ok("SIZE 2048" in c.cmd("EHLO x"), "EHLO advertises the listener's SIZE")
    c.close()

    # ---- counters per listener and archive ----
    m = metrics(s)
    ok = metric_value(m, "vellum_smtp_archive_messages_total", listener="legal",
                      archive="legal", code="250")
    big = metric_value(m, "vellum_smtp_archive_messages_total", listener="legal",
                       archive="legal", code="552")
    t.ok(ok == 1 and big == 1, "per listener x archive: accepted 250 = 1, rejected 552 = 1",
         re.findall(r"vellum_smtp_archive_messages_total\{[^}]*\} \S+", m))
    t.ok(metric_value(m, "vellum_smtp_messages_total", listener="legal", code="552") == 1,
         "per listener by reply code")
    t.ok((metric_value(m, "vellum_smtp_envelope_refused_total", listener="legal",
                       code="550") or 0) >= 1, "refused recipients by listener and code")
    t.ok((metric_value(m, "vellum_smtp_connections_refused_total", listener="deny127",
                       code="554") or 0) >= 1, "refused connections by listener and code")
    last = metric_value(m, "vellum_smtp_archive_last_received_seconds", listener="legal",
                        archive="legal")
    t.ok(last and abs(last - time.time()) < 120,
         "last message received per listener and archive (silent-feed alerts)", last)
    t.ok(metric_value(m, "vellum_smtp_last_received_seconds", listener="auth"),
         "last message received per listener")
    t.ok(metric_value(m, "vellum_smtp_last_received_seconds", listener="allow10") == 0,
         "a listener that received nothing reports 0")

    # ---- 421 on shutdown ----
    idle = greet(s)
    mid = greet(s)
    mid.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\nDATA\r\n")
    [mid.reply() for _ in range(3)]
    mid.send(b"Subject: half\r\n\r\npart")
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    r1, r2 = idle.reply(), mid.reply()
    t.ok(r1 and r1.startswith("421 4.3.2"), "shutdown: idle session told 421 4.3.2", r1)
    t.ok(r2 and r2.startswith("421 4.3.2"), "shutdown: session inside DATA told 421", r2)
    t.eq(s.stop(), 0, "server exits 0")
    idle.close()
    mid.close()

# ---- 452 4.3.1 at MAIL FROM when short of space ----
with Server(t, start=False) as s:
    with open(s.conf, "a") as f:
        f.write("[storage]\nmin_free = 1000000G\n")
    s.start()
    c = greet(s)
    r = c.cmd("MAIL FROM:<a@example.com>")
    t.ok(r.startswith("452 4.3.1"), "free space below min_free: MAIL FROM gets 452 4.3.1", r)
    t.ok(c.cmd("RCPT TO:<a@example.com>").startswith("503"), "and no transaction starts")
    c.close()
    m = metrics(s)
    t.ok(metric_value(m, "vellum_smtp_envelope_refused_total", listener="default",
                      code="452") == 1, "452 counted")

# ---- open files: raised to fit max_connections, or a clear refusal ----
with Server(t, start=False) as s:
    with open(s.conf, "a") as f:
        f.write("[smtp]\nmax_connections = 3000\n")
    s.env_saved = s.env
    # Start with a low soft limit under a higher hard one: serve raises it.
    proc = subprocess.Popen(["prlimit", "--nofile=256:8192", VELLUM_BIN, "-c", s.conf, "serve"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=s.env)
    ports = os.path.join(s.data_dir, "run", "ports")
    wait_until(lambda: os.path.exists(ports) or proc.poll() is not None, 30)
    lim = ""
    try:
        with open("/proc/%d/limits" % proc.pid) as f:
            lim = [ln for ln in f if ln.startswith("Max open files")][0]
    except (OSError, IndexError):
        pass
    t.ok(re.search(r"Max open files\s+4024\s", lim),
         "serve raised its soft open-file limit to max_connections + reserve (4024)", lim)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    # More than the kernel allows at all (nr_open): refused, clearly.
    with open(s.conf, "a") as f:
        f.write("[listener \"huge\"]\nlisten = 127.0.0.1:0\nmax_connections = 1000000\n"
                "[listener \"huge2\"]\nlisten = 127.0.0.1:0\nmax_connections = 1000000\n")
    p = subprocess.run([VELLUM_BIN, "-c", s.conf, "serve"], capture_output=True, timeout=30,
                       env=s.env)
    err = p.stderr.decode()
    t.ok(p.returncode != 0 and "open files" in err and "max_connections" in err,
         "max_connections beyond what the system allows: refuses to start, says why",
         err[-800:])
    t.ok(not os.path.exists(ports), "and it never listened")

t.done()
