"""Every route, table-driven (issue 6): for each row, success for a caller
with the role, 401 without credentials, 403 for a caller without the role or
the archive; archive isolation through every message route and by guessing
ids; and the table, the OpenAPI document and the router agree (test_api's
unit test ties the document to the router's table, this test ties the rows
below to the document, so a route added without a row fails here).

Other modules add their routes as rows of ROUTES."""

import json

from vellumtest import Server, Tap, make_message

t = Tap()

# Users: admin (init: admin + auditor on *), bob (admin on *), alice (auditor on
# default), dave (legal on other), ivan (ingest on default).
USERS = [("bob", "admin", "*"), ("alice", "auditor", "default"), ("dave", "legal", "other"),
         ("ivan", "ingest", "default")]


class Row:
    """One route: who succeeds (and with what status), who is refused with 403.
    path/body may hold {id} (a message in default), {other} (one in other),
    {user} (a user to act on), {token} (a token to revoke)."""

    def __init__(self, method, pattern, path, ok, ok_status=200, denied=None, body=None,
                 public=False, raw=None):
        self.method, self.pattern, self.path = method, pattern, path
        self.ok, self.ok_status, self.denied = ok, ok_status, denied
        self.body, self.public, self.raw = body, public, raw


ROUTES = [
    Row("GET", "/healthz", "/healthz", None, public=True),
    Row("GET", "/metrics", "/metrics", None, public=True),
    Row("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, public=True),
    Row("POST", "/api/v1/session", "/api/v1/session", None, public=True,
        body=lambda s: {"user": "alice", "password": "alice password 1"}),
    Row("GET", "/api/v1/session", "/api/v1/session", "alice"),
    Row("DELETE", "/api/v1/session", "/api/v1/session", "fresh"),
    Row("GET", "/api/v1/search", "/api/v1/search?q=*", "alice", denied="bob"),
    Row("GET", "/api/v1/messages/{id}", "/api/v1/messages/{id}", "alice", denied="bob"),
    Row("GET", "/api/v1/messages/{id}/raw", "/api/v1/messages/{id}/raw", "alice", denied="bob"),
    Row("GET", "/api/v1/messages/{id}/body", "/api/v1/messages/{id}/body", "alice", denied="bob"),
    Row("GET", "/api/v1/messages/{id}/parts/{n}", "/api/v1/messages/{id}/parts/1", "alice",
        denied="bob"),
    Row("POST", "/api/v1/archives/{name}/messages", "/api/v1/archives/default/messages", "ivan",
        201, denied="alice", raw=b"Subject: submitted\r\n\r\nvia the API\r\n"),
    Row("GET", "/api/v1/users", "/api/v1/users", "bob", denied="alice"),
    Row("POST", "/api/v1/users", "/api/v1/users", "bob", 201, denied="alice",
        body=lambda s: {"name": "new%d" % s.counter(), "password": "a long password"}),
    Row("GET", "/api/v1/users/{name}", "/api/v1/users/{user}", "bob", denied="alice"),
    Row("PATCH", "/api/v1/users/{name}", "/api/v1/users/{user}", "bob", denied="alice",
        body=lambda s: {"disabled": False}),
    Row("POST", "/api/v1/users/{name}/totp", "/api/v1/users/{user}/totp", "bob", 201,
        denied="alice", body=lambda s: {}),
    Row("DELETE", "/api/v1/users/{name}/totp", "/api/v1/users/{user}/totp", "bob",
        denied="alice"),
    Row("GET", "/api/v1/tokens", "/api/v1/tokens", "bob", denied="alice"),
    Row("POST", "/api/v1/tokens", "/api/v1/tokens", "bob", 201, denied="alice",
        body=lambda s: {"name": "tok%d" % s.counter(), "grants": [{"role": "auditor"}]}),
    Row("DELETE", "/api/v1/tokens/{name}", "/api/v1/tokens/{token}", "bob", denied="alice"),
    Row("GET", "/api/v1/audit", "/api/v1/audit?limit=5", "bob", denied="alice"),
    Row("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", "bob", denied="alice"),
    # the store's routes (api_store.c)
    Row("GET", "/api/v1/verify", "/api/v1/verify?archive=default", "bob", denied="alice"),
    Row("POST", "/api/v1/keys/rotate", "/api/v1/keys/rotate", "bob", denied="alice", body={}),
]

# Message routes and how each is reached for a message in an archive the
# caller may not read: always 404, exactly like an id that does not exist.
MESSAGE_PATHS = ["/api/v1/messages/%s", "/api/v1/messages/%s/raw", "/api/v1/messages/%s/body",
                 "/api/v1/messages/%s/body?format=html", "/api/v1/messages/%s/parts/1",
                 "/api/v1/messages/%s/raw?inner=1"]

with Server(t, archives='[archive "default"]\naddresses = *@default.example\n'
                        '[archive "other"]\naddresses = *@other.example\n') as s:
    n = [0]

    def counter():
        n[0] += 1
        return n[0]
    s.counter = counter
    for name, role, archive in USERS:
        p = s.vellum("user", "add", name, "--role", role, "--archive", archive,
                     "--password-stdin", input=("%s password 1\n" % name).encode())
        t.ok(p.returncode == 0, "user %s (%s on %s)" % (name, role, archive), p.stderr_text)
    sess = {name: s.login(name, "%s password 1" % name) for name, _, _ in USERS}
    sess["admin"] = s.login()
    s.send_smtplib("x@example.com", ["a@default.example"], make_message("in default", "dflt"))
    s.send_smtplib("x@example.com", ["a@other.example"], make_message("in other", "othr"))
    s.wait_indexed(sess["admin"], "*", want=2)
    ids = {}
    for arch in ("default", "other"):
        r = s.search(sess["admin"], "*", archive=arch)
        ids[arch] = ((r.json() or {}).get("results") or [{}])[0].get("id")
    t.ok(ids["default"] and ids["other"], "a message in each archive: %s" % ids)

    def fill(path, row):
        user = "target%d" % counter()
        s.vellum("user", "add", user, "--password-stdin", input=b"target password 1\n")
        tok = "rv%d" % counter()
        s.api("POST", "/api/v1/tokens", {"name": tok, "grants": [{"role": "auditor"}]},
              session=sess["bob"])
        return (path.replace("{id}", ids["default"]).replace("{other}", ids["other"])
                .replace("{user}", user).replace("{token}", tok))

    def call(row, who):
        path = fill(row.path, row)
        body = row.body(s) if row.body else None
        headers = {}
        if row.raw is not None:
            body = row.raw
            headers["Content-Type"] = "message/rfc822"
        se = s.login() if who == "fresh" else sess.get(who)
        return s.api(row.method, path, body, session=se, headers=headers)

    for row in ROUTES:
        name = "%s %s" % (row.method, row.pattern)
        if row.public:
            r = call(row, None)
            t.eq(r.status, 200, "%s: public, 200 without credentials" % name)
            continue
        r = call(row, None)
        t.ok(r.status == 401 and (r.json() or {}).get("error", {}).get("code") == "unauthorized",
             "%s: 401 without credentials" % name, r)
        r = call(row, row.ok)
        t.ok(r.status == row.ok_status, "%s: %d for %s" % (name, row.ok_status, row.ok), r)
        j = r.json()
        if j is not None:
            t.ok("format_version" in j, "%s: format_version in the answer" % name)
        if row.denied:
            r = call(row, row.denied)
            t.ok(r.status == 403 and (r.json() or {}).get("error", {}).get("code") == "forbidden",
                 "%s: 403 for %s" % (name, row.denied), r)

    # ---- isolation: alice reads default only; dave (legal) other only ----
    for tmpl in MESSAGE_PATHS:
        r = s.api("GET", tmpl % ids["other"], session=sess["alice"])
        t.ok(r.status == 404, "alice: %s in other is 404" % (tmpl % "ID"), r)
        r = s.api("GET", tmpl % ids["default"], session=sess["dave"])
        t.ok(r.status == 404, "dave: %s in default is 404" % (tmpl % "ID"), r)
    nope = s.api("GET", "/api/v1/messages/other-999999", session=sess["alice"])
    hidden = s.api("GET", "/api/v1/messages/%s" % ids["other"], session=sess["alice"])
    t.ok(nope.status == hidden.status == 404 and
         nope.json()["error"]["code"] == hidden.json()["error"]["code"],
         "an id in an archive not granted looks exactly like one that does not exist")
    for guess in ["other-1", "other-2", "default-0", "default-01", "../default-1", "other",
                  "-1", "default-18446744073709551616", "_audit-1", "other-1%00"]:
        r = s.api("GET", "/api/v1/messages/%s" % guess, session=sess["alice"])
        t.ok(r.status == 404, "guessing %s: 404" % guess, r)
    r = s.api("GET", "/api/v1/search?q=*&archive=other", session=sess["alice"])
    t.eq(r.status, 403, "search in an archive not granted: 403")
    r = s.api("GET", "/api/v1/search?q=*", session=sess["alice"])
    got = [h["archive"] for h in (r.json() or {}).get("results", [])]
    t.ok(got and set(got) == {"default"}, "alice's search finds only default", got)
    r = s.api("GET", "/api/v1/search?q=archive:other", session=sess["alice"])
    t.ok(r.status in (200, 403) and not (r.json() or {}).get("results"),
         "archive:other in the query finds nothing for alice")
    r = s.api("POST", "/api/v1/archives/other/messages", b"Subject: x\r\n\r\ny\r\n",
              session=sess["ivan"], headers={"Content-Type": "message/rfc822"})
    t.eq(r.status, 403, "ingest on default cannot submit to other")

    # ---- the rows, the document and the router agree ----
    r = s.http("GET", "/api/v1/openapi.json")
    doc = r.json() or {}
    ops = {(m.upper(), p) for p, item in doc.get("paths", {}).items() for m in item}
    rows = {(row.method, row.pattern) for row in ROUTES}
    t.ok(ops == rows, "every route in the OpenAPI document has a row here, and no more",
         "missing rows: %s\nextra rows: %s" % (sorted(ops - rows), sorted(rows - ops)))
    for method, pattern in sorted(ops):
        path = (pattern.replace("{id}", ids["default"]).replace("{n}", "1")
                .replace("{name}", "default"))
        r = s.http(method, path, b"" if method in ("POST", "PATCH") else None)
        code = (r.json() or {}).get("error", {}).get("code")
        t.ok(code not in ("method_not_allowed",) and not (r.status == 404 and code ==
             "not_found" and "no such resource" in r.json()["error"]["message"]),
             "%s %s is served" % (method, pattern), r)
t.done()
