"""The whole path, end to end (issue 2): SMTP in, durable store, indexer, search,
byte-exact download, authentication, the audit trail, and the CLI through the
control socket of a running server."""

import os
import pwd
import re
import subprocess
import tempfile

from vellumtest import Server, Tap, make_message, sha256, wait_until

t = Tap()
with Server(t) as s:
    sent = {}  # subject word -> (sender, bytes)

    # Three messages with swaks (its --data sends our bytes as they are) ...
    for i, word in enumerate(["quokka", "narwhal", "axolotl"]):
        sender = "sender%d@swaks.example" % i
        msg = make_message("Report about the %s project" % word,
                           "The %s numbers are attached.\r\n.leading dot line\r\n.." % word,
                           sender=sender, to="legal@example.com")
        with tempfile.NamedTemporaryFile(suffix=".eml", delete=False) as f:
            # swaks ends the data with CRLF.CRLF itself: hand it the message
            # without its last CRLF so what it transports is exactly msg.
            f.write(msg[:-2])
            path = f.name
        p = s.swaks("--from", sender, "--to", "legal@example.com", "--data", "@" + path,
                    "--helo", "swaks.test")
        os.unlink(path)
        t.ok(p.returncode == 0 and "\n<-  250 " in p.out, "swaks message %d accepted" % i,
             p.out[-2000:])
        sent[word] = (sender, msg)

    # ... and one with Python's smtplib.
    msg = make_message("Quarterly wombat figures", "Wombat totals, line one.\r\nLine two.",
                       sender="carol@smtplib.example", to="dave@example.com")
    reply = s.send_smtplib("carol@smtplib.example", ["dave@example.com"], msg)
    t.ok(True, "smtplib message accepted: %s" % reply)
    sent["wombat"] = ("carol@smtplib.example", msg)

    # Without a session: 401, JSON error.
    r = s.http("GET", "/api/v1/search?q=quokka")
    t.eq(r.status, 401, "search without a session is 401")
    t.ok((r.json() or {}).get("error", {}).get("code"), "401 carries a JSON error code")

    sess = s.login("admin")
    t.ok(sess is not None, "admin logs in with the password printed by init")

    bad = s.http("POST", "/api/v1/session", {"user": "admin", "password": "wrong"})
    t.eq(bad.status, 401, "wrong password is refused")

    # Every message is found by a subject word and by from:, and downloads byte-exact.
    for word, (sender, raw) in sent.items():
        res = s.wait_indexed(sess, word)
        hits = res.get("results", [])
        t.ok(res.get("total") == 1 and len(hits) == 1, "'%s' found by subject word" % word,
             res)
        if not hits:
            continue
        mid = hits[0]["id"]
        t.ok(word in hits[0].get("subject", "").lower(), "hit has the subject")
        t.ok(res.get("format_version") is not None, "search response has format_version")
        r = s.search(sess, "from:" + sender)
        fr = r.json() or {}
        t.ok(r.status == 200 and [h["id"] for h in fr.get("results", [])] == [mid],
             "'%s' found by from:%s" % (word, sender), fr)
        r = s.api("GET", "/api/v1/messages/%s/raw" % mid, session=sess)
        t.eq(r.status, 200, "raw download of %s" % mid)
        t.eq(sha256(r.body), sha256(raw), "raw bytes of %s are exactly what was sent" % mid)
        t.ok((r.header("Content-Disposition") or "").startswith("attachment"),
             "raw is served as an attachment")
        d = s.api("GET", "/api/v1/messages/%s" % mid, session=sess).json() or {}
        t.eq(d.get("sha256"), sha256(raw), "message detail records the SHA-256 of arrival")

    # The CLI while the server runs goes through the control socket.
    me = pwd.getpwuid(os.getuid()).pw_name
    p = s.vellum("user", "add", "erin", "--role", "auditor", "--archive", "default",
                 "--password-stdin", input=b"correct horse battery staple\n")
    t.eq(p.returncode, 0, "vellum user add works while the server runs")
    erin = s.login("erin", "correct horse battery staple")
    t.ok(erin is not None, "the new user can log in")
    if erin:
        res = s.search(erin, "wombat").json() or {}
        t.eq(res.get("total"), 1, "the auditor sees the default archive")

    p = s.vellum("search", "narwhal")
    t.ok(p.returncode == 0 and "narwhal" in p.stdout_text.lower(),
         "vellum search finds the message through the server", p.stdout_text + p.stderr_text)
    p = s.vellum("search", "--json", "from:carol@smtplib.example")
    t.ok(p.returncode == 0 and '"results"' in p.stdout_text, "vellum search --json")

    ids = [h["id"] for h in (s.search(sess, "wombat").json() or {}).get("results", [])]
    if ids:
        p = s.vellum("show", "--raw", ids[0])
        t.eq(sha256(p.stdout), sha256(sent["wombat"][1]), "vellum show --raw is byte-exact")

    # The audit trail has the logins, the failed login, the searches, the CLI.
    p = s.vellum("audit")
    audit = p.stdout_text
    t.eq(p.returncode, 0, "vellum audit runs")
    t.ok("login" in audit and "admin" in audit, "successful login is audited", audit[-3000:])
    t.ok("login" in audit and ("failed" in audit or "fail" in audit),
         "failed login is audited")
    t.ok("search" in audit, "searches are audited")
    t.ok("cli:%s" % me in audit, "CLI access is audited as cli:%s" % me)
    p = s.vellum("audit", "--user", "cli:%s" % me, "--action", "search")
    t.ok(p.returncode == 0 and "narwhal" in p.stdout_text,
         "audit filters by user and action and shows the query", p.stdout_text[-2000:])
    p = s.vellum("audit", "--user", "nobody-at-all")
    t.ok(p.returncode == 0 and "search" not in p.stdout_text, "audit filter excludes others")

    # /healthz needs no session; /metrics from loopback needs none either.
    r = s.http("GET", "/healthz")
    t.eq(r.status, 200, "/healthz")
    r = s.http("GET", "/metrics")
    t.ok(r.status == 200 and b"vellum_smtp_sessions_total" in r.body,
         "/metrics has SMTP session counters")
    t.ok(re.search(rb'^vellum_smtp_messages_total\{[^}]*code="250"[^}]*\} 4$', r.body, re.M),
         "/metrics counts the four stored messages", r.body.decode()[-3000:])
    t.ok(b"vellum_http_requests_total" in r.body, "/metrics counts HTTP requests")

    rc = s.stop()
    t.eq(rc, 0, "server exits 0 on SIGTERM")

    # Restart: everything is still there, found, byte-exact.
    s.start()
    sess = s.login("admin")
    res = s.wait_indexed(sess, "quokka")
    t.eq(res.get("total"), 1, "after restart the message is still found")
t.done()
