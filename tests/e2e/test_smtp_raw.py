"""The raw-socket SMTP suite against a real `vellum serve` (issue 4): the RFC 5321
reply table, the BDAT matrix, the smuggling matrix (each case followed by a
pipelined fake transaction: exactly one stored message, bytes preserved), the
STARTTLS injection test and the dot-stuffing round trip.  Stored bytes are
checked by SHA-256 through /api/v1/messages/{id}/raw."""

import tempfile

from smtp_e2e import Raw, Reader, greet, make_cert, stored_count, stored_ids
from vellumtest import Server, Tap

t = Tap()
certdir = tempfile.mkdtemp(prefix="vellum-cert-")
cert, key = make_cert(certdir)
extra = ("[smtp]\nhostname = vellum.test\ntls_cert = %s\ntls_key = %s\nmax_recipients = 5\n"
         "[listener \"small\"]\nlisten = 127.0.0.1:0\nmax_message_size = 64K\n"
         "max_line = 2000\n" % (cert, key))


def expect(c, prefix, name):
    r = c.reply()
    return t.ok(r is not None and r.startswith(prefix), "%s: %s" % (name, prefix), repr(r))


def transaction(c, body_wire, rcpt="journal@example.com"):
    """MAIL/RCPT/DATA pipelined with the wire bytes; returns the final reply."""
    c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt)
    r = [c.reply() for _ in range(3)]
    if not (r[2] or "").startswith("354"):
        return "no 354: %r" % r
    c.send(body_wire)
    return c.reply()


with Server(t, config_extra=extra) as s:
    rd = Reader(s)

    # ---- RFC 5321 reply table ----
    c = greet(s, helo=False)
    t.ok(c.greeting.startswith("220 vellum.test "), "220 greeting with our name", c.greeting)
    for line, want, name in [
        ("MAIL FROM:<a@example.com>", "503 5.5.1", "MAIL before EHLO"),
        ("RCPT TO:<a@example.com>", "503 5.5.1", "RCPT before EHLO"),
        ("EHLO", "501 5.5.4", "EHLO without a domain"),
        ("EHLO a b", "501 5.5.4", "EHLO with two words"),
        ("HELO raw.test", "250 vellum.test", "HELO"),
        ("EHLO raw.test", "250-vellum.test", "EHLO"),
        ("RCPT TO:<a@example.com>", "503 5.5.1", "RCPT before MAIL"),
        ("DATA", "503 5.5.1", "DATA before MAIL"),
        ("BDAT 0 LAST", "503 5.5.1", "BDAT before MAIL"),
        ("MAIL FROM:<>", "250 2.1.0", "null sender"),
        ("MAIL FROM:<b@example.com>", "503 5.5.1", "nested MAIL"),
        ("DATA", "554 5.5.1", "DATA with no recipient"),
        ("RCPT TO:<Postmaster>", "250 2.1.5", "bare Postmaster (catch-all archive)"),
        ("RCPT TO:<\"john q. public\"@example.com>", "250 2.1.5", "quoted local part"),
        ("RCPT TO:<\"unterminated@example.com>", "501", "unterminated quote"),
        ("RCPT TO:<@relay.example:j@example.com>", "250 2.1.5", "source route dropped"),
        ("RCPT TO:<a@example.com> NOTIFY=NEVER", "555 5.5.4", "unknown RCPT parameter"),
        ("RCPT TO:<a@@example.com>", "501 5.1.3", "bad address"),
        ("RCPT TO:a@example.com", "250 2.1.5", "path without brackets (lenient)"),
        ("RCPT TO:<j\u00f6rg@example.com>", "553 5.6.7", "UTF-8 without SMTPUTF8"),
        ("RCPT TO:<r5@example.com>", "250 2.1.5", "fifth recipient"),
        ("RCPT TO:<r6@example.com>", "452 4.5.3", "over max_recipients (5)"),
        ("RSET", "250 2.0.0", "RSET"),
        ("RSET now", "501 5.5.4", "RSET with an argument"),
        ("MAIL FROM:<a@example.com> SIZE=67108865", "552 5.3.4", "SIZE= over the limit"),
        ("MAIL FROM:<a@example.com> SIZE=abc", "501 5.5.4", "SIZE= not a number"),
        ("MAIL FROM:<a@example.com> BODY=BINARYMIME", "555 5.5.4", "BODY=BINARYMIME not offered"),
        ("MAIL FROM:<a@example.com> FOO=BAR", "555 5.5.4", "unknown MAIL parameter"),
        ("MAIL FROM:<a@example.com> SIZE=1 SIZE=2", "501 5.5.4", "repeated parameter"),
        ("MAIL FROM:<a@example.com> SIZE=100 BODY=8BITMIME SMTPUTF8", "250 2.1.0",
         "SIZE, BODY=8BITMIME, SMTPUTF8"),
        ("QUIT", "221 2.0.0", "QUIT"),
        # a new session: more than SMTP_ERRORS_MAX errors end a session
        (None, "220", "reconnect"),
        ("EHLO raw.test", "250-vellum.test", "EHLO"),
        ("VRFY postmaster", "252 2.5.0", "VRFY"),
        ("VRFY", "501 5.5.4", "VRFY without argument"),
        ("EXPN list", "502 5.5.1", "EXPN not implemented"),
        ("HELP", "214 2.0.0", "HELP"),
        ("NOOP anything", "250 2.0.0", "NOOP with an argument"),
        ("FROB", "500 5.5.1", "unknown command"),
        ("MAIL FROM:<a@example.com>\x01", "500 5.5.2", "control byte in a command"),
        ("DATA x", "501 5.5.4", "DATA with an argument"),
        ("STARTTLS x", "501 5.5.4", "STARTTLS with an argument"),
        ("AUTH PLAIN", "538 5.7.11", "AUTH before TLS (not loopback-enabled)"),
        ("BDAT x", "501 5.5.4", "BDAT without a size"),
    ]:
        if line is None:
            c.close()
            c = Raw(s.smtp_addr())
        else:
            c.send(line + "\r\n")
        expect(c, want, name)
    c.send("MAIL FROM:<" + "a" * 600 + "@example.com>\r\nNOOP\r\n")
    expect(c, "500 5.5.2", "command over 512 octets")
    expect(c, "250 2.0.0", "next command after the long line")
    c.send("QUIT\r\n")
    expect(c, "221 2.0.0", "QUIT")
    t.ok(c.at_eof(), "closed after 221")
    c.close()

    c = greet(s, helo=False)
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(c, "421 4.7.0", "an HTTP request is told off")
    c.close()

    c = greet(s)
    for i in range(21):
        c.send("FROB\r\n")
    replies = [c.reply() for _ in range(22)]
    t.ok(replies[-1] and replies[-1].startswith("421 4.7.0"),
         "421 after too many errors", replies[-3:])
    c.close()

    # Oversized DATA is read to its end, then 552 5.3.4; the session goes on.
    c = greet(s, "small")
    before = stored_count(s)
    big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 80  # ~80 KB > 64K
    r = transaction(c, big + b".\r\n")
    t.ok(r and r.startswith("552 5.3.4"), "oversized DATA read to its end: 552 5.3.4", r)
    r = transaction(c, b"Subject: small\r\n\r\nok\r\n.\r\n")
    t.ok(r and r.startswith("250 2.0.0 Stored"), "the session goes on after 552", r)
    r = transaction(c, b"Subject: long line\r\n\r\n" + b"z" * 2100 + b"\r\n.\r\n")
    t.ok(r and r.startswith("554 5.6.0"), "a line over max_line: 554 5.6.0 at the end", r)
    c.send("MAIL FROM:<a@example.com> SIZE=65537\r\n")
    expect(c, "552 5.3.4", "SIZE= over the listener's own limit")
    c.close()

    # ---- BDAT matrix ----
    c = greet(s)

    def bdat(data, last=False):
        return b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data

    # several chunks, boundaries inside CRLF and inside "\r\n.\r\n", one packet
    parts = [b"Subject: bdat matrix\r\n\r\nline\r", b"\n.\r", b"\n", b"MAIL FROM:<x@y>\r\n",
             b"QUIT\r\n", b"end\r\n"]
    wire = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\n"
    for i, p in enumerate(parts):
        wire += bdat(p, i == len(parts) - 1)
    before = stored_count(s)
    c.send(wire + b"NOOP\r\n")
    rs = [c.reply() for _ in range(2 + len(parts) + 1)]
    ids = stored_ids(rs[-2])
    t.ok(all(x.startswith("250 2.0.0 Chunk") for x in rs[2:-2]),
         "every non-LAST chunk: 250 2.0.0 Chunk received", rs)
    t.ok(ids and rd.matches(ids[0], b"".join(parts)),
         "6 chunks, splits inside CRLF and CRLF.CRLF: reassembled byte-exact")
    t.ok(rs[-1].startswith("250 2.0.0"), "NOOP after BDAT LAST is a command")
    d = rd.detail(ids[0]) if ids else {}
    t.ok("bdat" in d.get("arrivals", [{}])[0].get("flags", []), "envelope flag bdat")
    t.eq(stored_count(s) - before, 1, "one message from six chunks")

    # BDAT 0 LAST; a zero-length middle chunk
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\n" +
           bdat(b"Subject: zero\r\n\r\nbody\r\n") + b"BDAT 0\r\n" + b"BDAT 0 LAST\r\n")
    rs = [c.reply() for _ in range(5)]
    ids = stored_ids(rs[4])
    t.ok(rs[3].startswith("250 2.0.0 Chunk received: 0 octets") and ids and
         rd.matches(ids[0], b"Subject: zero\r\n\r\nbody\r\n"), "BDAT 0, then BDAT 0 LAST", rs)

    # MAIL during BDAT, DATA during BDAT, then LAST
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\n" +
           bdat(b"Subject: during\r\n\r\n") + b"MAIL FROM:<b@example.com>\r\nDATA\r\n" +
           bdat(b"tail\r\n", True))
    rs = [c.reply() for _ in range(6)]
    ids = stored_ids(rs[5])
    t.ok(rs[3].startswith("503 5.5.1") and rs[4].startswith("503 5.5.1") and ids and
         rd.matches(ids[0], b"Subject: during\r\n\r\ntail\r\n"),
         "MAIL and DATA during BDAT: 503, the transaction continues", rs)

    # malformed sizes: 501 and nothing consumed
    for bad in [b"BDAT", b"BDAT -5", b"BDAT 5x", b"BDAT 0x10", b"BDAT 1e3",
                b"BDAT 99999999999999999999999", b"BDAT 10 LAST LAST", b"BDAT LAST 10"]:
        c.send(bad + b"\r\nNOOP\r\n")
        r1, r2 = c.reply(), c.reply()
        t.ok(r1.startswith("501 5.5.4") and r2.startswith("250 2.0.0"),
             "malformed %r: 501, next line is a command" % bad, (r1, r2))

    # error then recovery: the announced bytes are consumed after an error
    c.send(bdat(b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\n", True) +
           b"NOOP\r\n")
    r1, r2 = c.reply(), c.reply()
    t.ok(r1.startswith("503 5.5.1") and r2.startswith("250 2.0.0"),
         "BDAT outside a transaction: 503 after its bytes, in step", (r1, r2))
    c2 = greet(s, "small")
    c2.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<journal@example.com>\r\n" +
            bdat(b"x" * 70000) + bdat(b"RSET\r\n", True) + b"NOOP\r\n")
    rs = [c2.reply() for _ in range(5)]
    t.ok(rs[2].startswith("552 5.3.4") and rs[3].startswith("503 5.5.1") and
         rs[4].startswith("250 2.0.0"),
         "chunk over the limit: 552, the rest of the failed transaction 503, in step", rs)
    r = transaction(c2, b"Subject: recovered\r\n\r\nok\r\n.\r\n")
    t.ok(r and r.startswith("250 2.0.0 Stored"), "recovery: the next message is stored", r)
    c2.close()
    c.send(b"MAIL FROM:<a@example.com>\r\n" + bdat(b"no rcpt", True))
    rs = [c.reply() for _ in range(2)]
    t.ok(rs[1].startswith("554 5.5.1"), "BDAT without a recipient: 554", rs)
    c.send(b"RCPT TO:<journal@example.com>\r\n" + bdat(b"Subject: r\r\n\r\nafter 554\r\n",
                                                          True))
    rs = [c.reply() for _ in range(2)]
    ids = stored_ids(rs[1])
    t.ok(ids and rd.matches(ids[0], b"Subject: r\r\n\r\nafter 554\r\n"),
         "after a 554 BDAT the transaction still takes RCPT and BDAT", rs)
    c.send(b"RSET\r\n")
    c.reply()
    c.close()

    # ---- smuggling matrix ----
    fake = (b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled\r\n")
    cases = [b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\n.\r",
             b"\r\n.\r\r\n", b"\r\n\x00.\r\n", b"\n..\n", b"\r\n.\n\r\n", b"\r\r\n.\r\r\n",
             b"\r\n .\r\n"]
    def unstuff(wire):
        """RFC 5321 §4.5.2 as the server must do it: lines end only at CRLF."""
        return b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in wire.split(b"\r\n"))

    for seq in cases:
        c = greet(s)
        before = stored_count(s)
        # Sent as a smuggler would: unstuffed, then the real end and a NOOP.
        wire = b"Subject: smuggle\r\n\r\nbefore" + seq + fake
        r = transaction(c, wire + b".\r\nNOOP\r\n")
        ids = stored_ids(r)
        t.ok(ids and rd.matches(ids[0], unstuff(wire)),
             "smuggling %r: bytes preserved, fake transaction is data" % seq, r)
        r2 = c.reply()
        t.ok(r2 and r2.startswith("250 2.0.0") and "Stored" not in r2,
             "smuggling %r: the NOOP after the real end is a command" % seq, r2)
        t.eq(stored_count(s) - before, 1, "smuggling %r: exactly one message stored" % seq)
        if seq in (b"\n.\n", b"\r.\r"):
            flags = (rd.detail(ids[0]) or {}).get("arrivals", [{}])[0].get("flags", []) \
                if ids else []
            t.ok(("bare_lf" if seq == b"\n.\n" else "bare_cr") in flags,
                 "smuggling %r: flagged in the envelope" % seq, flags)
        c.close()

    # ---- STARTTLS injection ----
    c = greet(s)
    c.send(b"STARTTLS\r\nNOOP\r\n")  # one packet
    r = c.reply()
    t.ok(r.startswith("220 2.0.0"), "STARTTLS: 220", r)
    t.eq(c.buf, b"", "nothing else in the clear after the 220")
    v = c.starttls()
    t.ok(v and v.startswith("TLS"), "handshake after the injected NOOP (%s)" % v)
    c.send(b"EHLO after.tls\r\n")
    r = c.reply()
    t.ok(r and r.startswith("250-vellum.test"),
         "the first reply under TLS answers our EHLO: the NOOP was never answered", r)
    t.ok("STARTTLS" not in r and "250-CHUNKING" in r, "no STARTTLS offered twice")
    c.send(b"STARTTLS\r\n")
    expect(c, "503 5.5.1", "STARTTLS under TLS")
    c.close()
    # EHLO is required again after TLS (RFC 3207 §4.2)
    c = greet(s)
    c.cmd("STARTTLS")
    c.starttls()
    c.send(b"MAIL FROM:<a@example.com>\r\n")
    expect(c, "503 5.5.1", "after STARTTLS the session starts over: EHLO first")
    c.close()
    # STARTTLS before EHLO and inside a transaction
    c = greet(s, helo=False)
    c.send(b"STARTTLS\r\n")
    expect(c, "503 5.5.1", "STARTTLS before EHLO")
    c.send(b"EHLO x\r\nMAIL FROM:<a@example.com>\r\nSTARTTLS\r\n")
    c.reply()
    c.reply()
    expect(c, "503 5.5.1", "STARTTLS inside a transaction")
    c.close()
    # a plaintext client that keeps talking after STARTTLS: handshake fails, closed
    c = greet(s)
    c.cmd("STARTTLS")
    c.send(b"EHLO not-tls\r\n")
    t.ok(c.at_eof(10) or c.reply() is None, "plaintext after 220 STARTTLS: closed")
    c.close()

    # ---- dot-stuffing round trip ----
    lines = [b".", b"..", b".x", b"...", b". ", b"x." * 499, b"." * 998, b"." + b"a" * 997,
             b"a" * 998, b"", b".", b"end"]
    body = b"Subject: dots\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    stuffed = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln
                           for ln in body.split(b"\r\n")[:-1]) + b"\r\n"
    c = greet(s)
    r = transaction(c, stuffed + b".\r\n")
    ids = stored_ids(r)
    t.ok(ids and rd.matches(ids[0], body),
         "dot-stuffing round trip of '.', '..', '.x' and 998-octet lines", r)
    c.close()
    # the same through smtplib (which stuffs by itself)
    import smtplib
    sm = smtplib.SMTP(*s.smtp_addr(), timeout=30)
    body2 = body.replace(b"Subject: dots", b"Subject: dots smtplib")
    refused = sm.sendmail("a@example.com", ["journal@example.com"], body2)
    sm.quit()
    t.eq(refused, {}, "smtplib sendmail of the dotted message accepted")
    # the same bytes stuffed by us: the same SHA-256, so the same message
    c = greet(s)
    r = transaction(c, b"".join(b"." + ln + b"\r\n" if ln.startswith(b".") else ln + b"\r\n"
                                for ln in body2.split(b"\r\n")[:-1]) + b".\r\n")
    ids = stored_ids(r)
    t.ok(ids and rd.matches(ids[0], body2), "smtplib's stuffing and ours agree (same message)")
    d = rd.detail(ids[0]) if ids else {}
    t.eq(len(d.get("arrivals", [])), 2, "the smtplib copy and the raw copy are one message "
         "with two arrivals (same SHA-256)")
    c.close()

t.done()
