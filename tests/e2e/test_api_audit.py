"""The audit trail end to end (issue 6): a scripted session produces exactly the
expected entries, and `vellum audit --verify` finds an edited, removed,
reordered or truncated entry of the _audit log, naming the right entry."""

import glob
import json
import os
import pwd
import shutil
import struct

from vellumtest import Server, Tap, make_message

SEG_HEADER = 128     # doc/format.md §2
REC_HEADER = 48      # §4: length(4) type(1) version(1) flags(2) seq(8) ...


def records(data):
    """(offset, length, seq) of each record of a segment file."""
    out, off = [], SEG_HEADER
    while off + REC_HEADER <= len(data):
        length = struct.unpack_from("<I", data, off)[0]
        seq = struct.unpack_from("<Q", data, off + 8)[0]
        if length < 64 or off + length > len(data):
            break
        out.append((off, length, seq))
        off += length
    return out


def audit_json(s):
    p = s.vellum("audit", "--json")
    try:
        return json.loads(p.stdout_text)
    except ValueError:
        s.t.diag(p.stdout_text + p.stderr_text)
        return []


t = Tap()
me = "cli:" + pwd.getpwuid(os.getuid()).pw_name
with Server(t) as s:
    msg = make_message("Audit subject ocelot", "ocelot body")
    s.send_smtplib("a@example.com", ["b@example.com"], msg)
    warm = s.login()
    res = s.wait_indexed(warm, "ocelot")
    mid = (res.get("results") or [{}])[0].get("id")
    t.ok(mid is not None, "the message is indexed")
    s.api("DELETE", "/api/v1/session", session=warm)

    base = audit_json(s)
    last = base[-1]["seq"] if base else 0
    t.ok(last > 0, "a baseline listing")

    # The scripted session.
    r = s.http("POST", "/api/v1/session", {"user": "admin", "password": "not it"})
    t.eq(r.status, 401, "a wrong password")
    sess = s.login()
    s.search(sess, "ocelot")
    s.api("GET", "/api/v1/messages/%s" % mid, session=sess)
    s.api("GET", "/api/v1/messages/%s/raw" % mid, session=sess)
    r = s.api("POST", "/api/v1/users", {"name": "erin", "password": "erin password 1",
                                        "grants": [{"role": "auditor", "archive": "default"}]},
              session=sess)
    t.eq(r.status, 201, "create a user")
    r = s.api("POST", "/api/v1/tokens", {"name": "t1", "grants": [{"role": "auditor"}]},
              session=sess)
    t.eq(r.status, 201, "create a token")
    s.api("DELETE", "/api/v1/tokens/t1", session=sess)
    r = s.api("DELETE", "/api/v1/session", session=sess)
    t.eq(r.status, 200, "log out")

    got = [(e["who"], e["action"], e.get("target"), e["outcome"])
           for e in audit_json(s) if e["seq"] > last]
    want = [
        (me, "audit.list", None, "ok"),          # the baseline listing itself
        ("admin", "login", "admin", "failed"),
        ("admin", "login", "admin", "ok"),
        ("admin", "search", None, "ok"),
        ("admin", "message.view", mid, "ok"),
        ("admin", "message.raw", mid, "ok"),
        ("admin", "user.create", "erin", "ok"),
        ("admin", "user.grant", "erin", "ok"),
        ("admin", "token.create", "t1", "ok"),
        ("admin", "token.revoke", "t1", "ok"),
        ("admin", "logout", "admin", "ok"),
    ]
    t.ok(got == want, "the scripted session produced exactly the expected entries",
         "\n".join(map(repr, got)))
    entries = audit_json(s)
    srch = [e for e in entries if e["seq"] > last and e["action"] == "search"]
    t.ok(srch and srch[0].get("count") == 1 and srch[0].get("detail", {}).get("query") == "ocelot",
         "the search entry has the query and the result count", srch)
    fails = [e for e in entries if e["seq"] > last and e["outcome"] == "failed"]
    t.ok(fails and fails[0].get("from") == "127.0.0.1", "the failed login has the client address")
    seqs = [e["seq"] for e in entries]
    t.ok(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "entries in chain order")

    # Filters and paging through the API.
    sess = s.login()
    r = s.api("GET", "/api/v1/audit?user=admin&action=token", session=sess)
    acts = [e["action"] for e in (r.json() or {}).get("entries", [])]
    t.eq(acts, ["token.create", "token.revoke"], "filter by user and action prefix")
    r = s.api("GET", "/api/v1/audit?limit=3", session=sess)
    j = r.json() or {}
    t.ok(len(j.get("entries", [])) == 3 and j.get("more") is True and j.get("next_after") == 3,
         "a page of 3 says there is more", j.get("next_after"))
    r = s.api("GET", "/api/v1/audit?limit=3&after=3", session=sess)
    t.eq([e["seq"] for e in (r.json() or {}).get("entries", [])], [4, 5, 6], "the next page")
    r = s.api("GET", "/api/v1/audit?since=nonsense", session=sess)
    t.eq(r.status, 400, "a bad since: 400")

    p = s.vellum("audit", "--verify")
    t.ok(p.returncode == 0 and "intact" in p.stdout_text, "the live trail verifies",
         p.stdout_text + p.stderr_text)
    s.stop()

    seg_dir = os.path.join(s.data_dir, "archives", "_audit")
    segs = sorted(glob.glob(os.path.join(seg_dir, "*.seg")))
    t.ok(len(segs) >= 1, "the audit log's segment files")
    with open(segs[-1], "rb") as f:
        pristine = f.read()
    recs = records(pristine)
    t.ok(len(recs) > 12 and recs[0][2] >= 1, "%d records walked" % len(recs))

    def damaged(name, mutate, want_entry):
        """Copies the data dir, mutates the last segment, verifies the copy."""
        copy = os.path.join(s.dir, "copy-" + name)
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(s.data_dir, copy, ignore=shutil.ignore_patterns("*.sock", "ports"))
        conf = os.path.join(s.dir, "copy-%s.conf" % name)
        with open(s.conf) as f:
            text = f.read().replace("data_dir = %s" % s.data_dir, "data_dir = %s" % copy)
        with open(conf, "w") as f:
            f.write(text)
        seg = os.path.join(copy, "archives", "_audit", os.path.basename(segs[-1]))
        with open(seg, "wb") as f:
            f.write(mutate(bytearray(pristine)))
        import subprocess
        from vellumtest import VELLUM_BIN
        p = subprocess.run([VELLUM_BIN, "-c", conf, "audit", "--verify"], capture_output=True,
                           env=s.env, timeout=120)
        out = p.stdout.decode("utf-8", "replace")
        s.check_sanitizers(p.stderr.decode("utf-8", "replace"), "audit --verify")
        t.ok(p.returncode == 1, "%s: audit --verify fails" % name, out + p.stderr.decode())
        t.ok("first at entry %d" % want_entry in out, "%s: at entry %d" % (name, want_entry), out)

    k = 6   # an entry in the middle
    off, length, seq = recs[k]

    def edit(b):
        b[off + REC_HEADER + 3] ^= 0x01   # one bit of the ciphertext
        return bytes(b)

    def remove(b):
        return bytes(b[:off] + b[off + length:])

    def reorder(b):
        o2, l2, _ = recs[k + 1]
        return bytes(b[:off] + b[o2:o2 + l2] + b[off:off + length] + b[o2 + l2:])

    def truncate(b):
        return bytes(b[:off])

    damaged("edited", edit, seq)
    damaged("removed", remove, seq)
    damaged("reordered", reorder, seq)
    damaged("truncated", truncate, seq)

t.done()
