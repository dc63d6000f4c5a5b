"""Identity end to end (issue 6): CSRF (bad Origin, missing token -> 403 and
nothing changed), cookies, session rotation, logout revocation, idle and
absolute expiry (test clock), throttling with Retry-After, TOTP enrolment /
login / wrong code, require_totp_for_admin, token scope and revocation."""

import base64
import hashlib
import hmac
import os
import re
import struct
import time
import urllib.parse

from vellumtest import Server, Tap, make_message, test_hooks


def totp(secret, offset=0, now=None):
    """RFC 6238 code (SHA-1, 6 digits, 30 s) for the clock the server sees."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int((now if now is not None else time.time()) // 30) + offset
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) % 1000000)


class Clock:
    """The test-hooks clock override: seconds added to the server's clock."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.set(0)

    def set(self, offset):
        self.offset = offset
        with open(self.path, "w") as f:
            f.write("%d\n" % offset)
        time.sleep(0.02)   # a new mtime

    def now(self):
        return time.time() + self.offset


def cookie_of(r):
    for k, v in r.headers:
        if k.lower() == "set-cookie":
            return v
    return None


t = Tap()
tmp_clock = os.path.join(os.environ.get("TMPDIR", "/tmp"), "vellum-clock-%d" % os.getpid())
env = {"VELLUM_TEST_CLOCK_FILE": tmp_clock}
clock = Clock(tmp_clock)
conf = "session_idle = 10min\nsession_max = 1h\n"
with Server(t, config_extra="", env=env, start=False) as s:
    with open(s.conf, "a") as f:
        f.write(conf)   # lands in [http], the last section of the file
    s.start()
    admin = s.login()

    # ---- cookies and CSRF ----
    r = s.http("POST", "/api/v1/session", {"user": "admin", "password": s.admin_password})
    c = cookie_of(r) or ""
    t.ok(c.startswith("vellum=") and "HttpOnly" in c and "SameSite=Strict" in c and
         "Path=/" in c and "Secure" not in c, "plain-HTTP cookie: vellum, HttpOnly, "
         "SameSite=Strict, Path=/", c)
    origin = "http://" + s.http_addr

    def create_user(name, headers):
        h = {"Cookie": admin.cookie}
        h.update(headers)
        return s.http("POST", "/api/v1/users", {"name": name, "password": "long enough pw"}, h)

    r = create_user("csrf1", {"X-CSRF-Token": admin.csrf, "Origin": "http://evil.example"})
    t.ok(r.status == 403 and (r.json() or {}).get("error", {}).get("code") == "csrf",
         "a foreign Origin: 403 csrf")
    r = create_user("csrf2", {"Origin": origin})
    t.eq(r.status, 403, "no X-CSRF-Token: 403")
    r = create_user("csrf3", {"Origin": origin, "X-CSRF-Token": "x" * 43})
    t.eq(r.status, 403, "a wrong X-CSRF-Token: 403")
    r = create_user("csrf4", {"X-CSRF-Token": admin.csrf})
    t.eq(r.status, 403, "neither Origin nor Sec-Fetch-Site: 403")
    r = s.api("GET", "/api/v1/users", session=admin)
    names = [u["name"] for u in (r.json() or {}).get("users", [])]
    t.ok(not any(n.startswith("csrf") for n in names), "and nothing was created", names)
    r = create_user("csrf5", {"X-CSRF-Token": admin.csrf, "Sec-Fetch-Site": "same-origin"})
    t.eq(r.status, 201, "Sec-Fetch-Site: same-origin with the token is accepted")
    r = s.http("POST", "/api/v1/session", {"user": "admin", "password": s.admin_password},
               {"Origin": "http://evil.example"})
    t.eq(r.status, 403, "a login posted from another site: 403")

    # ---- rotation and logout ----
    a = s.login()
    b = s.http("POST", "/api/v1/session", {"user": "admin", "password": s.admin_password},
               {"Cookie": a.cookie, "Origin": origin})
    t.ok(b.status == 200 and (cookie_of(b) or "").split(";")[0] != a.cookie,
         "logging in again gives a new token")
    r = s.api("GET", "/api/v1/session", session=a)
    t.eq(r.status, 401, "and the old one is gone (rotated)")
    c = s.login()
    r = s.api("DELETE", "/api/v1/session", session=c)
    t.ok(r.status == 200 and "Max-Age=0" in (cookie_of(r) or ""), "logout clears the cookie")
    r = s.api("GET", "/api/v1/search?q=x", session=c)
    t.eq(r.status, 401, "a logged-out session is refused")

    # ---- idle and absolute expiry (test clock) ----
    if test_hooks():
        e = s.login()
        clock.set(9 * 60)
        r = s.api("GET", "/api/v1/session", session=e)
        t.eq(r.status, 200, "9 minutes idle of 10: still valid")
        clock.set(9 * 60 + 11 * 60)
        r = s.api("GET", "/api/v1/session", session=e)
        t.eq(r.status, 401, "11 minutes idle: expired")
        clock.set(0)
        f = s.login()
        for minutes in (8, 16, 24, 32, 40, 48, 56):
            clock.set(minutes * 60)
            r = s.api("GET", "/api/v1/session", session=f)
        t.eq(r.status, 200, "kept busy for 56 minutes: valid")
        clock.set(62 * 60)
        r = s.api("GET", "/api/v1/session", session=f)
        t.eq(r.status, 401, "past session_max (1h) even though busy: expired")
        clock.set(0)
    else:
        t.skip("session expiry", "needs the test clock (--enable-test-hooks)")

    # ---- throttling ----
    for i in range(5):
        r = s.http("POST", "/api/v1/session", {"user": "csrf5", "password": "wrong %d" % i})
    t.eq(r.status, 401, "five wrong passwords: 401 each")
    r = s.http("POST", "/api/v1/session", {"user": "csrf5", "password": "long enough pw"})
    ra = r.header("Retry-After")
    t.ok(r.status == 429 and ra and int(ra) > 0, "the sixth try, right password: 429, "
         "Retry-After %s" % ra)
    admin = s.login()
    r = s.api("GET", "/api/v1/audit?user=csrf5&action=login", session=admin)
    outs = [e["outcome"] for e in (r.json() or {}).get("entries", [])]
    t.eq(outs, ["failed"] * 5 + ["throttled"], "failed attempts and the refusal audited")
    if test_hooks():
        clock.set(int(ra) + 2)
        r = s.http("POST", "/api/v1/session", {"user": "csrf5", "password": "long enough pw"})
        t.eq(r.status, 200, "after Retry-After the right password works")
        clock.set(0)
    else:
        t.skip("throttle ends", "needs the test clock (--enable-test-hooks)")
    r = s.http("GET", "/metrics")
    t.ok(re.search(r'vellum_http_logins_total\{outcome="throttled"\} [1-9]', r.body.decode()),
         "throttled logins counted in /metrics")

    # ---- TOTP ----
    p = s.vellum("user", "add", "tina", "--role", "auditor", "--password-stdin",
                 input=b"tina password 1\n")
    t.eq(p.returncode, 0, "a user for TOTP")
    p = s.vellum("user", "totp", "tina")
    m = re.search(r"^otpauth URI: (otpauth://totp/\S+)$", p.stdout_text, re.M)
    t.ok(p.returncode == 0 and m, "vellum user totp prints the otpauth URI once", p.stdout_text)
    q = urllib.parse.parse_qs(urllib.parse.urlparse(m.group(1) if m else "x:").query)
    secret = (q.get("secret") or [""])[0]
    body = {"user": "tina", "password": "tina password 1"}
    r = s.http("POST", "/api/v1/session", body)
    t.ok(r.status == 401 and (r.json() or {}).get("error", {}).get("code") == "totp_required",
         "password alone: 401 totp_required")
    code = totp(secret, now=clock.now())
    wrong = "%06d" % ((int(code) + 1) % 1000000)
    r = s.http("POST", "/api/v1/session", dict(body, totp=wrong))
    t.eq(r.status, 401, "a wrong code: 401")
    r = s.http("POST", "/api/v1/session", dict(body, totp=code))
    t.eq(r.status, 200, "the right code: logged in")
    r = s.http("POST", "/api/v1/session", dict(body, totp=code))
    t.eq(r.status, 401, "the same code again: refused")
    r = s.api("DELETE", "/api/v1/users/tina/totp", session=admin)
    t.eq(r.status, 200, "an admin removes tina's TOTP")
    r = s.http("POST", "/api/v1/session", body)
    t.eq(r.status, 200, "then the password alone works")

    # ---- API tokens ----
    s.send_smtplib("x@example.com", ["y@example.com"], make_message("token scope lynx", "lynx"))
    s.wait_indexed(admin, "lynx")
    p = s.vellum("archive", "create", "other") if False else None
    p = s.vellum("token", "create", "ci", "--role", "auditor", "--archive", "default")
    m = re.search(r"^token: (vellum_\S+)$", p.stdout_text, re.M)
    t.ok(p.returncode == 0 and m, "vellum token create prints the token once", p.stderr_text)
    tok = m.group(1) if m else "x"
    bearer = {"Authorization": "Bearer " + tok}
    r = s.http("GET", "/api/v1/search?q=lynx", headers=bearer)
    t.ok(r.status == 200 and (r.json() or {}).get("total") == 1, "the token searches its archive")
    r = s.http("GET", "/api/v1/users", headers=bearer)
    t.eq(r.status, 403, "but may not manage users (not in its scope)")
    p = s.vellum("token", "list")
    t.ok(p.returncode == 0 and "ci\tauditor:default" in p.stdout_text and tok not in p.stdout_text,
         "token list shows it without its value")
    p = s.vellum("token", "revoke", "ci")
    t.eq(p.returncode, 0, "vellum token revoke")
    r = s.http("GET", "/api/v1/search?q=lynx", headers=bearer)
    t.eq(r.status, 401, "a revoked token: 401")

# ---- require_totp_for_admin ----
with Server(t, env=env, start=False) as s:
    with open(s.conf, "a") as f:
        f.write("require_totp_for_admin = yes\n")
    s.start()
    r = s.http("POST", "/api/v1/session", {"user": "admin", "password": s.admin_password})
    j = r.json() or {}
    t.ok(r.status == 200 and j.get("totp_enrolment_required") is True,
         "an admin without TOTP gets a session that must enrol")
    sess = s.login()
    r = s.api("GET", "/api/v1/search?q=x", session=sess)
    t.ok(r.status == 403 and (r.json() or {}).get("error", {}).get("code") ==
         "totp_enrolment_required", "nothing else is allowed before enrolling")
    r = s.api("GET", "/api/v1/users", session=sess)
    t.eq(r.status, 403, "not even admin routes")
    r = s.api("POST", "/api/v1/users/admin/totp", {}, session=sess)
    j = r.json() or {}
    t.ok(r.status == 201 and j.get("otpauth_uri", "").startswith("otpauth://totp/") and
         j.get("qr_svg", "").startswith("<svg"), "enrolment answers the URI and a QR code once")
    r = s.api("GET", "/api/v1/search?q=x", session=sess)
    t.eq(r.status, 200, "after enrolling, the session works")
    r = s.http("POST", "/api/v1/session", {"user": "admin", "password": s.admin_password})
    t.eq(r.status, 401, "the next login needs the code")
    r = s.http("POST", "/api/v1/session", {"user": "admin", "password": s.admin_password,
                                           "totp": totp(j.get("secret", "A"))})
    t.ok(r.status == 200 and (r.json() or {}).get("totp_enrolment_required") is False,
         "with the code: a full session")

os.unlink(tmp_clock)
t.done()
