"""The store's commands end to end (issue 3): `vellum verify` and
`vellum key rotate` through a running server's control socket and directly on
the files, GET /api/v1/verify and POST /api/v1/keys/rotate for an admin
session, both audited; verify's exit status and the location it prints for a
flipped bit; a rotated key opening the store after a restart."""

import glob
import os

from vellumtest import Server, Tap, make_message, sha256

t = Tap()
with Server(t) as s:
    msgs = []
    for i in range(5):
        m = make_message("Store CLI %d" % i, "Body %d of the store test.\r\n" % i)
        s.send_smtplib("alice@example.com", ["bob@example.com"], m)
        msgs.append(m)

    p = s.vellum("verify", "--help")
    t.ok(p.returncode == 0 and "usage: vellum" in p.stdout_text and "Exit status" in p.stdout_text,
         "vellum verify --help")
    p = s.vellum("key", "--help")
    t.ok(p.returncode == 0 and "key rotate" in p.stdout_text, "vellum key --help")

    p = s.vellum("verify")
    t.ok(p.returncode == 0 and "everything verifies" in p.stdout_text,
         "vellum verify through the running server: exit 0", p.stdout_text + p.stderr_text)
    t.ok("default: ok:" in p.stdout_text and "_audit: ok:" in p.stdout_text,
         "every archive and log is reported", p.stdout_text)
    p = s.vellum("verify", "--archive", "nosuch")
    t.ok(p.returncode == 1 and "no archive" in p.stderr_text, "unknown archive: exit 1",
         p.stderr_text)
    p = s.vellum("verify", "--bogus")
    t.eq(p.returncode, 2, "usage error: exit 2")

    sess = s.login("admin")
    r = s.api("GET", "/api/v1/verify?archive=default", session=sess)
    j = r.json() or {}
    arch = (j.get("archives") or [{}])[0]
    t.ok(r.status == 200 and j.get("clean") is True and arch.get("archive") == "default" and
         arch.get("messages") == 5 and "format_version" in j,
         "GET /api/v1/verify for an admin session", j)
    r = s.http("GET", "/api/v1/verify")
    t.eq(r.status, 401, "verify needs credentials")

    r = s.http("GET", "/metrics")
    text = r.body.decode("utf-8", "replace")
    t.ok(r.status == 200 and "vellum_store_append_seconds_count" in text and
         'vellum_store_segments{archive="default"}' in text and
         'vellum_store_bytes{archive="default"}' in text and
         "vellum_store_fsync_seconds_bucket" in text,
         "/metrics has the store's latency histograms and per-archive gauges",
         "\n".join(l for l in text.splitlines() if "store" in l)[:2000])

    old_key = open(s.key_file).read()
    p = s.vellum("key", "rotate")
    t.ok(p.returncode == 0 and "master key rotated" in p.stdout_text,
         "vellum key rotate through the running server", p.stdout_text + p.stderr_text)
    new_key = open(s.key_file).read()
    t.ok(new_key != old_key and len(new_key.strip()) == 64, "the master key file holds a new key")
    t.eq(oct(os.stat(s.key_file).st_mode & 0o777), "0o600", "still mode 0600")
    r = s.api("POST", "/api/v1/keys/rotate", body={}, session=sess)
    j = r.json() or {}
    t.ok(r.status == 200 and j.get("archives", 0) >= 2 and j.get("old_key") != j.get("new_key"),
         "POST /api/v1/keys/rotate for an admin session", j)
    r = s.api("GET", "/api/v1/messages/default-1/raw", session=sess)
    t.ok(r.status == 200 and sha256(r.body) == sha256(msgs[0]),
         "messages read on after rotations")

    p = s.vellum("audit", "--action", "key.rotate")
    t.ok(p.returncode == 0 and p.stdout_text.count("key.rotate") == 2,
         "both rotations are in the audit trail", p.stdout_text)
    p = s.vellum("audit", "--action", "verify")
    t.ok(p.returncode == 0 and p.stdout_text.count("verify") >= 2, "verifications are audited",
         p.stdout_text)

    # Restart with the rotated key: everything opens and reads.
    s.stop()
    s.start()
    sess = s.login("admin")
    ok = True
    for i, m in enumerate(msgs):
        r = s.api("GET", "/api/v1/messages/default-%d/raw" % (i + 1), session=sess)
        ok = ok and r.status == 200 and r.body == m
    t.ok(ok, "after a restart with the new key every message reads back byte-exact")
    s.stop()

    # Without a server: the commands work on the files directly.
    p = s.vellum("verify", "--archive", "default")
    t.ok(p.returncode == 0 and "everything verifies" in p.stdout_text,
         "vellum verify directly on the data dir", p.stdout_text + p.stderr_text)

    segs = sorted(glob.glob(os.path.join(s.data_dir, "archives", "default", "*.seg")))
    t.ok(len(segs) >= 1, "the archive has a segment")
    with open(segs[0], "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0x10]))
    p = s.vellum("verify")
    name = os.path.basename(segs[0])
    t.ok(p.returncode == 1 and ("default: segment %s offset" % name) in p.stdout_text and
         "PROBLEMS" in p.stdout_text,
         "a flipped bit: exit 1 and its location", p.stdout_text + p.stderr_text)
    with open(segs[0], "r+b") as f:
        f.seek(200)
        f.write(b)
    p = s.vellum("verify", "--quiet")
    t.ok(p.returncode == 0, "flipped back: exit 0", p.stdout_text)
    p = s.vellum("verify", "--json")
    t.ok(p.returncode == 0 and '"clean": true' in p.stdout_text, "--json", p.stdout_text[:400])

t.done()
