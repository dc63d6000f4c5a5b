"""SMTP with real clients against a real `vellum serve` (issue 4): swaks plain,
--pipeline, STARTTLS (certificate made at test time), AUTH PLAIN and LOGIN,
8-bit data, UTF-8 addresses; Python smtplib with many messages on one
connection, RSET in the middle of a transaction, BODY=8BITMIME and SMTPUTF8.
Every stored message is read back through /api/v1/messages/{id}/raw and
compared by SHA-256; the envelope (TLS, AUTH identity, flags, listener) is
checked through /api/v1/messages/{id}."""

import os
import smtplib
import subprocess
import tempfile

from smtp_e2e import Reader, greet, make_cert, stored_ids, client_tls_context
from vellumtest import Server, Tap, make_message, sha256

t = Tap()
certdir = tempfile.mkdtemp(prefix="vellum-cert-")
cert, key = make_cert(certdir)
PASSWORD = "ingest horse battery"

extra = ("[smtp]\nhostname = vellum.test\ntls_cert = %s\ntls_key = %s\n"
         "[listener \"loop\"]\nlisten = 127.0.0.1:0\nhostname = vellum.test\n"
         "auth = required\nauth_plain_on_loopback = yes\n" % (cert, key))


def swaks(s, msg, *args, listener="default", sender="alice@example.com",
          to="journal@example.com"):
    """Sends msg (bytes, CRLF) with swaks; swaks adds the CRLF before the final
    dot itself, so it is handed msg without its last CRLF."""
    with tempfile.NamedTemporaryFile(suffix=".eml", delete=False) as f:
        f.write(msg[:-2])
        path = f.name
    p = s.swaks("--from", sender, "--to", to, "--helo", "swaks.test", "--data", "@" + path,
                *args, listener=listener)
    os.unlink(path)
    return p


def swaks_ids(p):
    for line in p.out.splitlines():
        if "250 2.0.0 Stored:" in line:
            return stored_ids(line)
    return []


with Server(t, config_extra=extra) as s:
    p = s.vellum("user", "add", "feeder", "--role", "ingest", "--archive", "*",
                 "--password-stdin", input=(PASSWORD + "\n").encode())
    t.eq(p.returncode, 0, "user with the ingest role created")
    p = s.vellum("user", "add", "reader", "--role", "auditor", "--archive", "*",
                 "--password-stdin", input=(PASSWORD + "\n").encode())
    t.eq(p.returncode, 0, "user without the ingest role created")
    rd = Reader(s)

    # ---- swaks: plain ----
    msg = make_message("swaks plain", "Plain body.\r\n.leading dot\r\n..two dots")
    p = swaks(s, msg)
    ids = swaks_ids(p)
    t.ok(p.returncode == 0 and len(ids) == 1, "swaks plain: stored", p.out[-1500:])
    t.ok(ids and rd.matches(ids[0], msg), "swaks plain: bytes preserved (SHA-256)")
    d = rd.detail(ids[0]) if ids else {}
    arr = (d or {}).get("arrivals", [{}])[0]
    t.ok(arr.get("listener") == "default" and arr.get("tls") is None and
         arr.get("auth_id") is None and arr.get("helo") == "swaks.test",
         "envelope: listener, no TLS, no AUTH, HELO", arr)

    # ---- swaks --pipeline ----
    msg = make_message("swaks pipelined", "Pipelined body.")
    p = swaks(s, msg, "--pipeline")
    ids = swaks_ids(p)
    t.ok(p.returncode == 0 and "PIPELINING" in p.out and len(ids) == 1,
         "swaks --pipeline: stored", p.out[-1500:])
    t.ok(ids and rd.matches(ids[0], msg), "swaks --pipeline: bytes preserved")

    # ---- swaks STARTTLS ----
    msg = make_message("swaks tls", "Encrypted body.")
    p = swaks(s, msg, "--tls")
    ids = swaks_ids(p)
    t.ok(p.returncode == 0 and "STARTTLS" in p.out and len(ids) == 1,
         "swaks --tls: stored over STARTTLS", p.out[-1500:])
    t.ok(ids and rd.matches(ids[0], msg), "swaks --tls: bytes preserved")
    arr = ((rd.detail(ids[0]) if ids else None) or {}).get("arrivals", [{}])[0]
    tls = arr.get("tls") or {}
    t.ok(tls.get("version", "").startswith("TLS1.") and tls.get("cipher"),
         "envelope records the TLS version and cipher (%s %s)" %
         (tls.get("version"), tls.get("cipher")), arr)
    p = swaks(s, make_message("swaks tls 1.2", "TLS 1.2 body."), "--tls", "--tls-protocol",
              "tlsv1_2")
    ids = swaks_ids(p)
    arr = ((rd.detail(ids[0]) if ids else None) or {}).get("arrivals", [{}])[0]
    t.eq((arr.get("tls") or {}).get("version"), "TLS1.2",
         "a TLS 1.2 client is accepted under tls_min_version = 1.2")

    # ---- swaks AUTH over STARTTLS ----
    msg = make_message("swaks auth plain", "Authenticated body.")
    p = swaks(s, msg, "--tls", "--auth", "PLAIN", "--auth-user", "feeder",
              "--auth-password", PASSWORD)
    ids = swaks_ids(p)
    t.ok(p.returncode == 0 and "235 2.7.0" in p.out and len(ids) == 1,
         "swaks --tls --auth PLAIN: 235 and stored", p.out[-1500:])
    arr = ((rd.detail(ids[0]) if ids else None) or {}).get("arrivals", [{}])[0]
    t.eq(arr.get("auth_id"), "feeder", "envelope records the AUTH identity")
    msg = make_message("swaks auth login", "LOGIN body.")
    p = swaks(s, msg, "--tls", "--auth", "LOGIN", "--auth-user", "feeder",
              "--auth-password", PASSWORD)
    ids = swaks_ids(p)
    t.ok(p.returncode == 0 and "235 2.7.0" in p.out and ids and rd.matches(ids[0], msg),
         "swaks --auth LOGIN: 235 and stored byte-exact", p.out[-1500:])
    p = swaks(s, make_message("bad pw", "x"), "--tls", "--auth", "PLAIN", "--auth-user",
              "feeder", "--auth-password", "wrong password")
    t.ok(p.returncode != 0 and "535 5.7.8" in p.out, "wrong password: 535 5.7.8", p.out[-800:])
    p = swaks(s, make_message("no ingest", "x"), "--tls", "--auth", "PLAIN", "--auth-user",
              "reader", "--auth-password", PASSWORD)
    t.ok(p.returncode != 0 and "535 5.7.8" in p.out,
         "a user without the ingest role: 535 5.7.8", p.out[-800:])
    p = swaks(s, make_message("auth in clear", "x"), "--auth", "PLAIN", "--auth-user",
              "feeder", "--auth-password", PASSWORD)
    t.ok(p.returncode != 0 and "235" not in p.out,
         "no AUTH in the clear on a non-loopback-auth listener", p.out[-800:])
    # auth = required with auth_plain_on_loopback: AUTH without TLS on loopback.
    msg = make_message("loopback auth", "Loopback body.")
    p = swaks(s, msg, "--auth", "PLAIN", "--auth-user", "feeder", "--auth-password",
              PASSWORD, listener="loop")
    ids = swaks_ids(p)
    t.ok(p.returncode == 0 and ids and rd.matches(ids[0], msg),
         "auth_plain_on_loopback: AUTH PLAIN in the clear from 127.0.0.1", p.out[-1500:])
    p = swaks(s, make_message("loop no auth", "x"), listener="loop")
    t.ok(p.returncode != 0 and "530 5.7.0" in p.out, "auth = required: MAIL without AUTH 530",
         p.out[-800:])

    # ---- swaks 8-bit data and UTF-8 addresses ----
    msg = make_message("8bit", "EIGHTBIT and UTF-8: K\u00f6ln",
                       extra_headers="Content-Transfer-Encoding: 8bit\r\n")
    msg = msg.replace(b"EIGHTBIT", b"Latin-1 Gr\xfc\xdfe \xe9\xe8\xff")  # raw 8-bit bytes
    p = swaks(s, msg)
    ids = swaks_ids(p)
    t.ok(p.returncode == 0 and "8BITMIME" in p.out and ids and rd.matches(ids[0], msg),
         "swaks: 8-bit data stored byte-exact (server offers 8BITMIME)", p.out[-1500:])
    p = swaks(s, make_message("utf8 addr", "x"), to="jörg@example.com")
    t.ok(p.returncode != 0 and "553 5.6.7" in p.out,
         "swaks: a UTF-8 address without SMTPUTF8 gets 553 5.6.7 (RFC 6531 §3.4)",
         p.out[-800:])

    # ---- Python smtplib ----
    c = smtplib.SMTP(*s.smtp_addr(), timeout=30)
    c.ehlo("smtplib.test")
    t.ok(c.has_extn("smtputf8") and c.has_extn("8bitmime") and c.has_extn("chunking") and
         c.has_extn("pipelining") and c.has_extn("enhancedstatuscodes") and
         c.has_extn("starttls") and int(c.esmtp_features.get("size", "0")) > 0,
         "EHLO offers SMTPUTF8 8BITMIME CHUNKING PIPELINING ENHANCEDSTATUSCODES STARTTLS SIZE",
         c.esmtp_features)
    t.ok(not c.has_extn("auth"), "no AUTH offered before TLS (not loopback-enabled)")
    sent = []
    n = 25
    for i in range(n):
        m = make_message("smtplib %d" % i, "Message number %d.\r\n.dot line %d" % (i, i))
        if i == 7:
            # RSET in the middle of a transaction: nothing stored for it.
            c.mail("a@example.com")
            c.rcpt("journal@example.com")
            code, _ = c.rset()
            t.eq(code, 250, "RSET mid-transaction")
            code, _ = c.rcpt("journal@example.com")
            t.eq(code, 503, "RCPT after RSET needs MAIL again")
            continue
        code, resp = c.mail("a@example.com")
        c.rcpt("journal@example.com")
        code, resp = c.data(m)
        sent.append((code, stored_ids(resp.decode()), m))
    t.ok(all(code == 250 and len(ids) == 1 for code, ids, _ in sent) and len(sent) == n - 1,
         "smtplib: %d messages on one connection, each 250 with an id" % (n - 1))
    good = sum(1 for _, ids, m in sent if ids and rd.matches(ids[0], m))
    t.eq(good, n - 1, "smtplib: every message byte-exact")
    ids_all = [ids[0] for _, ids, _ in sent if ids]
    t.eq(len(set(ids_all)), n - 1, "distinct ids, the RSET one never stored")

    # BODY=8BITMIME and SMTPUTF8 through smtplib's mail options.
    m8 = make_message("eight", "caf\u00e9 \u20ac")
    code, resp = c.mail("a@example.com", ["BODY=8BITMIME"])
    c.rcpt("journal@example.com")
    code, resp = c.data(m8)
    ids = stored_ids(resp.decode())
    d = rd.detail(ids[0]) if ids else None
    arr = (d or {}).get("arrivals", [{}])[0]
    t.ok(code == 250 and "8bitmime" in arr.get("flags", []) and rd.matches(ids[0], m8),
         "BODY=8BITMIME: stored, flagged in the envelope", arr)
    mu = make_message("utf8 envelope", "Envelope in UTF-8.", sender="jörg@例え.jp",
                      to="用户@example.com")
    code, resp = c.mail("jörg@例え.jp", ["SMTPUTF8", "BODY=8BITMIME"])
    t.eq(code, 250, "MAIL with a UTF-8 address and SMTPUTF8")
    code, resp = c.rcpt("用户@example.com")
    t.eq(code, 250, "RCPT with a UTF-8 address")
    code, resp = c.data(mu)
    ids = stored_ids(resp.decode())
    d = rd.detail(ids[0]) if ids else None
    arr = (d or {}).get("arrivals", [{}])[0]
    t.ok(code == 250 and ids and rd.matches(ids[0], mu) and
         arr.get("mail_from") == "jörg@例え.jp" and arr.get("rcpt") == ["用户@example.com"] and
         "smtputf8" in arr.get("flags", []),
         "SMTPUTF8: UTF-8 addresses kept exactly in the envelope", arr)
    c.quit()

    # smtplib over STARTTLS with AUTH, then BDAT through a raw socket over TLS.
    c = smtplib.SMTP(*s.smtp_addr(), timeout=30)
    c.starttls(context=client_tls_context())
    c.ehlo("smtplib.tls")
    t.ok(c.has_extn("auth") and "PLAIN" in c.esmtp_features.get("auth", "") and
         not c.has_extn("starttls"), "after STARTTLS: AUTH PLAIN LOGIN offered, STARTTLS not")
    c.login("feeder", PASSWORD)
    m = make_message("smtplib tls auth", "After login.")
    code, resp = c.mail("a@example.com")
    c.rcpt("journal@example.com")
    code, resp = c.data(m)
    ids = stored_ids(resp.decode())
    arr = ((rd.detail(ids[0]) if ids else None) or {}).get("arrivals", [{}])[0]
    t.ok(code == 250 and rd.matches(ids[0], m) and arr.get("auth_id") == "feeder" and
         arr.get("tls"), "smtplib: STARTTLS + AUTH + message", arr)
    c.quit()

    r = greet(s)
    r.cmd("STARTTLS")
    r.starttls()
    r.ehlo()
    body = b"Subject: bdat over tls\r\n\r\n" + b"x" * 100000 + b"\r\n"
    r.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\n")
    r.send(b"BDAT %d\r\n" % 50000 + body[:50000])
    r.send(b"BDAT %d LAST\r\n" % (len(body) - 50000) + body[50000:])
    replies = [r.reply() for _ in range(4)]
    ids = stored_ids(replies[3])
    t.ok(replies[2].startswith("250 2.0.0 Chunk") and ids and rd.matches(ids[0], body),
         "BDAT over TLS: two chunks, 100 KB, byte-exact", replies)
    r.close()

    # The audit trail has the SMTP logins, ok and failed.
    p = s.vellum("audit", "--action", "smtp.auth")
    t.ok(p.returncode == 0 and "feeder" in p.stdout_text and "failed" in p.stdout_text,
         "SMTP AUTH attempts are audited (ok and failed)", p.stdout_text[-1500:])
    text = s.http("GET", "/metrics").body.decode()
    t.ok('vellum_smtp_auth_total{listener="default",outcome="failed"}' in text and
         'vellum_smtp_tls_handshakes_total{listener="default",outcome="ok"}' in text,
         "/metrics counts AUTH outcomes and TLS handshakes")

t.done()
