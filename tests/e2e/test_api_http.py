"""HTTP itself (issue 6): malformed requests over a raw socket get a clean 4xx
and the server stays up (huge headers, bad JSON, bad UTF-8, CL/TE conflicts,
garbage); JSON errors carry {"error": {"code", "message"}}; HTTPS with a
certificate made at test time (GnuTLS through libmicrohttpd) and the
__Host-vellum Secure cookie; plain HTTP off loopback refused unless
allow_plain_http."""

import json
import os
import socket
import ssl
import subprocess
import time

from vellumtest import Server, Tap, VELLUM_BIN, wait_until


def raw(s, data, timeout=10):
    """Sends bytes on a fresh connection; returns (status or None, whole answer)."""
    host, port = s.http_addr.rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=timeout)
    out = b""
    try:
        c.sendall(data)
        try:
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        while True:
            b = c.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        pass
    finally:
        c.close()
    status = None
    if out.startswith(b"HTTP/1."):
        try:
            status = int(out.split(b" ", 2)[1])
        except ValueError:
            pass
    return status, out


def post_json(body):
    return (b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def alive(s):
    return s.http("GET", "/healthz").status == 200


t = Tap()
with Server(t) as s:
    sess = s.login()
    body = json.dumps({"user": "admin", "password": "x"}).encode()

    cases = [
        ("huge header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 +
         b"\r\n\r\n"),
        ("many headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
         b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"),
        ("huge request line", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("CL and TE together", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json"
         b"\r\n\r\n0\r\n\r\n"),
        ("TE not chunked", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        ("two Content-Lengths", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 2\r\nContent-Length: 40\r\nContent-Type: application/json\r\n\r\n{}"),
        ("Content-Length not a number", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 1x\r\n\r\n{}"),
        ("bad chunk size", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
        ("not HTTP at all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"),
        ("no version", b"GET /healthz\r\n\r\n"),
        ("bad JSON", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
         b"\r\nContent-Length: 9\r\n\r\n{\"user\": "),
        ("JSON with bad UTF-8", post_json(b"{\"user\": \"\xff\xfe\", \"password\": \"x\"}")),
        ("bad UTF-8 in the path", b"GET /api/v1/messages/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("NUL in the path", b"GET /api/v1/users/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("body too large", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: "
         b"application/json\r\nContent-Length: 99999999\r\n\r\n{"),
        ("JSON not an object", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: "
         b"application/json\r\nContent-Length: 2\r\n\r\n[]"),
        ("duplicate JSON keys", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: "
         b"application/json\r\nContent-Length: 39\r\n\r\n{\"user\": \"a\", \"user\": \"b\", \"password\":1}"),
        ("wrong content type", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: "
         b"text/plain\r\nContent-Length: 2\r\n\r\n{}"),
        ("unknown method", b"BREW /api/v1/session HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("cut short", b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"),
    ]
    for name, data in cases:
        st, out = raw(s, data)
        # Only what cannot be answered in HTTP (not HTTP at all, a body that
        # never comes) may end with a closed connection.
        clean = st is not None and 400 <= st < 500
        if name in ("cut short", "not HTTP at all"):
            clean = st is None or 400 <= st < 500
        t.ok(clean, "%s: a clean 4xx (or a closed connection)" % name,
             "status %r: %r" % (st, out[:300]))
        if st is not None and 400 <= st < 500 and b"application/json" in out.split(b"\r\n\r\n")[0]:
            j = json.loads(out.split(b"\r\n\r\n", 1)[1] or b"{}")
            t.ok(j.get("error", {}).get("code") and "message" in j["error"],
                 "%s: JSON error with code and message" % name)
        t.ok(alive(s), "%s: the server is still up" % name)

    # Errors of every status the API gives carry the same shape.
    checks = [
        (s.http("GET", "/api/v1/users"), 401),
        (s.api("GET", "/api/v1/messages/nope-1", session=sess), 404),
        (s.api("POST", "/api/v1/users", {"name": "admin", "password": "long password"},
               session=sess), 409),
        (s.api("POST", "/api/v1/users", {"name": "bad name"}, session=sess), 400),
        (s.api("PUT", "/api/v1/users", {}, session=sess), 405),
    ]
    for r, want in checks:
        j = r.json() or {}
        t.ok(r.status == want and j.get("error", {}).get("code") and j["error"].get("message")
             and "format_version" in j, "a %d answer is a JSON error" % want, r)
    r = s.http("GET", "/api/v1/openapi.json")
    t.ok(r.status == 200 and (r.json() or {}).get("openapi", "").startswith("3."),
         "the OpenAPI document is served")
    log = s.log_text()
    t.ok("http.request" in log, "requests are logged")

# ---- HTTPS ----
with Server(t, start=False) as s:
    cert = os.path.join(s.dir, "cert.pem")
    key = os.path.join(s.dir, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       capture_output=True)
    t.ok(p.returncode == 0, "a certificate made for the test", p.stderr.decode()[-500:])
    with open(s.conf, "a") as f:
        f.write("tls_cert = %s\ntls_key = %s\n" % (cert, key))
    s.start()
    host, port = s.http_addr.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=cert)
    import http.client
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    c.request("GET", "/healthz")
    r = c.getresponse()
    t.ok(r.status == 200 and json.loads(r.read()).get("status") in ("ok", "degraded"),
         "HTTPS /healthz with a verified certificate")
    c.request("POST", "/api/v1/session", json.dumps({"user": "admin", "password": s.admin_password}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    ck = r.getheader("Set-Cookie") or ""
    r.read()
    t.ok(r.status == 200 and ck.startswith("__Host-vellum=") and "; Secure" in ck and
         "HttpOnly" in ck and "SameSite=Strict" in ck, "over TLS the cookie is __Host-vellum, "
         "Secure", ck)
    c.request("GET", "/api/v1/session", headers={"Cookie": ck.split(";")[0]})
    r = c.getresponse()
    t.ok(r.status == 200 and json.loads(r.read()).get("user") == "admin", "and it works")
    ver = c.sock.version()
    t.ok(ver in ("TLSv1.2", "TLSv1.3"), "TLS 1.2 or later (%s)" % ver)
    c.close()
    st, out = raw(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    t.ok(st is None or st >= 400, "plain HTTP to the HTTPS port gets no answer", out[:100])
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.minimum_version = ssl.TLSVersion.TLSv1
        with socket.create_connection((host, int(port)), timeout=5) as so:
            with old.wrap_socket(so) as w:
                refused = False
    except (ssl.SSLError, OSError, ValueError):
        refused = True
    t.ok(refused, "TLS 1.1 is refused")

# ---- plain HTTP off loopback ----
with Server(t, start=False) as s:
    with open(s.conf) as f:
        text = f.read()
    with open(s.conf, "w") as f:
        f.write(text.replace("[http]\nlisten = 127.0.0.1:0", "[http]\nlisten = 0.0.0.0:0"))
    p = subprocess.run([VELLUM_BIN, "-c", s.conf, "serve"], capture_output=True, env=s.env,
                       timeout=60)
    err = p.stdout.decode() + p.stderr.decode()
    t.ok(p.returncode != 0 and "allow_plain_http" in err,
         "listening off loopback without TLS is refused at start", err[-800:])
    with open(s.conf, "a") as f:
        f.write("allow_plain_http = yes\n")
    s.start()
    t.ok(s.http_addr.startswith("0.0.0.0:"), "with allow_plain_http = yes it starts")
    port = s.http_addr.rsplit(":", 1)[1]
    s.http_addr = "127.0.0.1:" + port
    t.ok(s.login() is not None, "and sessions work")
t.done()
