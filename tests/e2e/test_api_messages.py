"""Messages through the API and the CLI (issue 6): submission (streamed, capped
at max_message_size), `vellum import` of mbox, Maildir, .eml and PST paths with
a summary line, the displayable body (HTML only under the sandbox CSP), parts
as downloads, the original inside a journal report (/raw?inner=1, `show
--inner`), a renderer crash that costs one answer and nothing else, and
/healthz turning degraded when an archive is quiet past quiet_alert (test
clock)."""

import hashlib
import os
import re
import time

from vellumtest import Server, Tap, make_message, sha256, test_hooks, wait_until

CSP = "sandbox; default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'"

HTML_MSG = (b"From: h@example.com\r\nTo: b@example.com\r\nSubject: html tapir\r\n"
            b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"B1\"\r\n\r\n"
            b"--B1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            b"<html><body><p>Hello <b>tapir</b></p><script>alert(1)</script>"
            b"<img src=\"https://tracker.example/x.png\"></body></html>\r\n"
            b"--B1\r\nContent-Type: application/pdf\r\n"
            b"Content-Disposition: attachment; filename*=UTF-8''r%C3%A9port%20%22q%22.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXr\r\n--B1--\r\n")

ORIGINAL = (b"From: ceo@example.com\r\nTo: cfo@example.com\r\nSubject: the original okapi\r\n"
            b"Message-ID: <orig-1@example.com>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
            b"\r\nOriginal body okapi.\r\n")
JOURNAL = (b"From: journal@example.com\r\nTo: archive@example.com\r\n"
           b"Subject: journal report\r\nX-MS-Journal-Report:\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"J\"\r\n\r\n"
           b"--J\r\nContent-Type: text/plain\r\n\r\nSender: ceo@example.com\r\n"
           b"Subject: the original okapi\r\nMessage-Id: <orig-1@example.com>\r\n"
           b"To: cfo@example.com\r\n\r\n"
           b"--J\r\nContent-Type: message/rfc822\r\n\r\n" + ORIGINAL + b"\r\n--J--\r\n")

t = Tap()
clock_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), "vellum-clock-m%d" % os.getpid())
with open(clock_file, "w") as f:
    f.write("0\n")
env = {"VELLUM_TEST_CLOCK_FILE": clock_file}
with Server(t, env=env, start=False,
            archives='[archive "default"]\naddresses = *\nquiet_alert = 2h\n') as s:
    with open(s.conf) as f:
        text = f.read()
    with open(s.conf, "w") as f:
        f.write(text.replace("[smtp]\n", "[smtp]\nmax_message_size = 8M\n"))
    s.start()
    sess = s.login()

    # ---- health ----
    h = s.http("GET", "/healthz").json() or {}
    t.ok(h.get("status") == "ok" and h.get("store", {}).get("writable") is True,
         "healthz ok, store writable", h)
    alive = wait_until(lambda: (s.http("GET", "/healthz").json() or {})
                       .get("indexer", {}).get("alive"), 10)
    t.ok(alive is True, "indexer alive")
    t.ok(isinstance(h.get("indexer", {}).get("lag"), int), "indexer lag reported")
    if test_hooks():
        with open(clock_file, "w") as f:
            f.write("%d\n" % (3 * 3600))
        time.sleep(0.05)
        r = s.http("GET", "/healthz")
        h = r.json() or {}
        t.ok(r.status == 200 and h.get("status") == "degraded" and
             any("default" in p and "quiet_alert" in p for p in h.get("problems", [])),
             "3 h later with nothing received: degraded, naming the archive", h)
        arch = {a["name"]: a for a in h.get("archives", [])}
        t.ok(arch.get("default", {}).get("quiet") is True, "the archive is marked quiet")
        s.send_smtplib("a@example.com", ["b@example.com"], make_message("wakes it", "up"))
        h = s.http("GET", "/healthz").json() or {}
        t.ok(h.get("status") == "ok", "a message arrives: ok again", h)
        with open(clock_file, "w") as f:
            f.write("0\n")
        time.sleep(0.05)
    else:
        t.skip("health degraded past quiet_alert", "needs the test clock (--enable-test-hooks)")

    # ---- submission ----
    big = make_message("big submission", "x" * 100 + "\r\n" + ("y" * 998 + "\r\n") * 5000)
    r = s.api("POST", "/api/v1/archives/default/messages?mail_from=imp@example.com&rcpt=a@x,b@x",
              big, session=sess, headers={"Content-Type": "message/rfc822"})
    j = r.json() or {}
    t.ok(r.status == 201 and j.get("sha256") == sha256(big) and j.get("size") == len(big),
         "a 5 MB message submitted (streamed), SHA-256 as sent", r)
    mid = j.get("id", "none")
    r = s.api("GET", "/api/v1/messages/%s/raw" % mid, session=sess)
    t.ok(r.status == 200 and sha256(r.body) == sha256(big), "and read back byte for byte")
    toobig = make_message("too big", ("z" * 998 + "\r\n") * 9000)
    r = s.api("POST", "/api/v1/archives/default/messages", toobig, session=sess,
              headers={"Content-Type": "message/rfc822"})
    t.ok(r.status == 413 and (r.json() or {}).get("error", {}).get("code") == "payload_too_large",
         "beyond max_message_size: 413", r)
    t.ok(s.http("GET", "/healthz").status == 200, "server fine after that")

    # ---- body and parts ----
    r = s.api("POST", "/api/v1/archives/default/messages", HTML_MSG, session=sess,
              headers={"Content-Type": "message/rfc822"})
    hid = (r.json() or {}).get("id", "none")
    r = s.api("GET", "/api/v1/messages/%s/body?format=html" % hid, session=sess)
    t.ok(r.status == 200 and r.header("Content-Security-Policy") == CSP and
         (r.header("Content-Type") or "").startswith("text/html") and b"tapir" in r.body,
         "HTML body with the sandbox CSP", r.headers)
    t.eq(r.header("X-Content-Type-Options"), "nosniff", "nosniff on the body")
    r = s.api("GET", "/api/v1/messages/%s/body?format=text" % hid, session=sess)
    t.ok(r.status == 200 and b"Hello tapir" in r.body.replace(b"\n", b" ") and b"<b>" not in r.body,
         "text body: the HTML as text", r.body[:200])
    d = s.api("GET", "/api/v1/messages/%s" % hid, session=sess).json() or {}
    pdf = [p for p in d.get("parts", []) if p.get("content_type") == "application/pdf"]
    t.ok(pdf and pdf[0].get("filename") == 'r\u00e9port "q".pdf' and pdf[0].get("attachment"),
         "the part tree names the attachment", d.get("parts"))
    n = pdf[0]["num"] if pdf else 99
    r = s.api("GET", "/api/v1/messages/%s/parts/%d" % (hid, n), session=sess)
    cd = r.header("Content-Disposition") or ""
    t.ok(r.status == 200 and r.body == b"%PDF-1.4\n%\xc4\xe5\xf2\xe5\xeb", "the part, decoded", r.body)
    t.ok(cd.startswith("attachment;") and "filename*=UTF-8''r%C3%A9port%20_q_.pdf" in cd and
         '"' not in cd.split("filename=", 1)[1].split(";")[0].strip('"'),
         "downloaded as an attachment, filename made safe", cd)
    t.ok(r.header("X-Content-Type-Options") == "nosniff" and r.header("Content-Type") ==
         "application/pdf", "nosniff, the part's type")
    r = s.api("GET", "/api/v1/messages/%s/parts/%d" % (hid, 42), session=sess)
    t.eq(r.status, 404, "no such part: 404")

    # ---- the original inside a journal report ----
    r = s.api("POST", "/api/v1/archives/default/messages", JOURNAL, session=sess,
              headers={"Content-Type": "message/rfc822"})
    jid = (r.json() or {}).get("id", "none")
    r = s.api("GET", "/api/v1/messages/%s/raw?inner=1" % jid, session=sess)
    t.ok(r.status == 200 and b"Subject: the original okapi" in r.body and
         b"X-MS-Journal-Report" not in r.body, "raw?inner=1: the original message", r.body[:300])
    t.ok((r.header("Content-Disposition") or "").startswith("attachment") and
         r.header("X-Vellum-SHA256") == hashlib.sha256(r.body).hexdigest(),
         "as a download, with its SHA-256")
    r2 = s.api("GET", "/api/v1/messages/%s/raw" % jid, session=sess)
    t.ok(sha256(r2.body) == sha256(JOURNAL), "without inner: the report as it arrived")
    p = s.vellum("show", "--raw", "--inner", jid)
    t.ok(p.returncode == 0 and p.stdout == r.body, "vellum show --raw --inner", p.stderr_text)
    r = s.api("GET", "/api/v1/messages/%s/raw?inner=1" % hid, session=sess)
    t.eq(r.status, 404, "not a journal report: 404")

    # ---- import ----
    src = os.path.join(s.dir, "import")
    os.makedirs(os.path.join(src, "maildir", "cur"))
    os.makedirs(os.path.join(src, "maildir", "new"))
    os.makedirs(os.path.join(src, "maildir", "tmp"))
    m1 = b"From: a@x\nSubject: mbox one\n\nFrom the start\n>From escaped\n"
    m2 = b"From: b@x\nSubject: mbox two\n\nsecond\n"
    with open(os.path.join(src, "mail.mbox"), "wb") as f:
        f.write(b"From alice@example.com Mon Nov 23 10:00:00 2026\n" +
                m1.replace(b"\nFrom the", b"\n>From the").replace(b">From escaped", b">>From escaped") +
                b"\nFrom MAILER-DAEMON Mon Nov 23 10:00:01 2026\n" + m2 + b"\n")
    for i, sub in enumerate(["cur", "new"]):
        with open(os.path.join(src, "maildir", sub, "%d.host:2,S" % i), "wb") as f:
            f.write(make_message("maildir %d" % i, "md"))
    with open(os.path.join(src, "maildir", "tmp", "partial"), "wb") as f:
        f.write(b"Subject: being delivered\r\n\r\n")
    with open(os.path.join(src, "one.eml"), "wb") as f:
        f.write(make_message("single eml", "eml"))
    p = s.vellum("import", "--archive", "default", src)
    t.ok(p.returncode == 0 and re.search(r"^imported 5 messages \(0 already archived, 0 failed\)",
                                         p.stdout_text, re.M),
         "import: mbox (2), Maildir cur+new (2, tmp skipped), .eml (1)", p.stdout_text + p.stderr_text)
    p = s.vellum("import", "--archive", "default", src)
    t.ok(p.returncode == 0 and "imported 5 messages (5 already archived" in p.stdout_text,
         "importing again: the same messages, all duplicates", p.stdout_text)
    res = s.wait_indexed(sess, "subject:mbox", want=2)
    ids = {h["subject"]: h["id"] for h in res.get("results", [])}
    r = s.api("GET", "/api/v1/messages/%s/raw" % ids.get("mbox one", "x"), session=sess)
    t.ok(r.body == m1, "mbox message stored as found, >From lines unescaped (mboxrd)", r.body)
    d = s.api("GET", "/api/v1/messages/%s" % ids.get("mbox one", "x"), session=sess).json() or {}
    a0 = (d.get("arrivals") or [{}])[0]
    t.ok(a0.get("listener") == "import" and a0.get("mail_from") == "alice@example.com" and
         "import" in a0.get("flags", []), "an import arrival, MAIL FROM from the From_ line", a0)
    r = s.api("GET", "/api/v1/audit?action=message.submit", session=sess)
    t.ok(len((r.json() or {}).get("entries", [])) >= 10, "every imported message audited")
    bad = os.path.join(s.dir, "broken.pst")
    with open(bad, "wb") as f:
        f.write(b"!BDN" + b"\0" * 600)
    p = s.vellum("import", bad)
    t.ok(p.returncode == 1 and "readpst" in p.stderr_text and "imported 0 messages" in p.stdout_text,
         "a PST readpst cannot read: reported, exit 1", p.stdout_text + p.stderr_text)
    p = s.vellum("import", "--archive", "nope", os.path.join(src, "one.eml"))
    t.ok(p.returncode == 1 and "no archive nope" in p.stderr_text, "no such archive: refused",
         p.stdout_text + p.stderr_text)
    s.stop()
    p = s.vellum("import", os.path.join(src, "one.eml"))
    t.ok(p.returncode == 0 and "1 already archived" in p.stdout_text,
         "import without a running server (in-process)", p.stdout_text + p.stderr_text)

# ---- a renderer that crashes ----
if not test_hooks():
    t.skip("renderer crash", "needs fault injection (--enable-test-hooks)")
    os.unlink(clock_file)
    t.done()
with Server(t, env={"VELLUM_FAULTS": "api.render_crash:1+:EIO"}) as s:
    sess = s.login()
    r = s.api("POST", "/api/v1/archives/default/messages", HTML_MSG, session=sess,
              headers={"Content-Type": "message/rfc822"})
    hid = (r.json() or {}).get("id", "none")
    r = s.api("GET", "/api/v1/messages/%s" % hid, session=sess)
    j = r.json() or {}
    t.ok(r.status == 200 and j.get("arrivals") and "render_failed" in j.get("warnings", []),
         "renderer crash: the detail still has the envelope, with a warning", j.get("warnings"))
    r = s.api("GET", "/api/v1/messages/%s/body?format=html" % hid, session=sess)
    t.ok(r.status == 500 and (r.json() or {}).get("error", {}).get("code") == "render_failed",
         "the body: 500 render_failed")
    r = s.api("GET", "/api/v1/messages/%s/raw" % hid, session=sess)
    t.ok(r.status == 200 and sha256(r.body) == sha256(HTML_MSG), "raw needs no renderer")
    t.ok(s.http("GET", "/healthz").status == 200, "the server is unharmed")
os.unlink(clock_file)
t.done()
