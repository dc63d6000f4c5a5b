"""vellumtest — shared helpers for Vellum's end-to-end tests (TAP on stdout).

A test script does:

    from vellumtest import Tap, Server
    t = Tap()
    with Server(t) as s:              # temp data dir, `vellum init`, `vellum serve`
        s.send_smtplib(...)           # real SMTP on 127.0.0.1:<ephemeral>
        r = s.api("GET", "/api/v1/search?q=x", session=s.login())
        t.ok(r.status == 200, "search works")
    t.done()

Everything runs on loopback with ephemeral ports: the server is started with
`listen = 127.0.0.1:0` and writes the bound addresses to <data_dir>/run/ports.
Sanitizer reports in the server's log fail the test (Server.stop checks).
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

VELLUM_BIN = os.environ.get("VELLUM_BIN", "vellum")
SRCDIR = os.environ.get("VELLUM_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SMALL = os.environ.get("VELLUM_TEST_SCALE") == "small"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "ERROR: UndefinedBehaviorSanitizer")


_hooks = None


def test_hooks():
    """True when the binary under test has test hooks (fault injection, the
    clock override VELLUM_TEST_CLOCK_FILE): `vellum --version` says so."""
    global _hooks
    if _hooks is None:
        try:
            out = subprocess.run([VELLUM_BIN, "--version"], capture_output=True,
                                 timeout=30).stdout.decode("utf-8", "replace")
        except OSError:
            out = ""
        _hooks = "test hooks: enabled" in out
    return _hooks


def scale(normal, small):
    """Test volume: smaller in the sanitizer tier (VELLUM_TEST_SCALE=small)."""
    return small if SMALL else normal


class Tap:
    """Minimal TAP producer; plan printed at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                self.diag(diag)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            print("# " + line, flush=True)

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def bail(self, why):
        print("Bail out! " + why, flush=True)
        sys.exit(1)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def wait_until(fn, timeout=20.0, interval=0.05):
    """Polls fn() until it returns a truthy value or timeout; returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(interval)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Server:
    """A vellum data dir + `vellum serve` on ephemeral loopback ports."""

    def __init__(self, tap, config_extra="", archives=None, init=True, env=None,
                 start=True):
        self.t = tap
        self.dir = tempfile.mkdtemp(prefix="vellum-e2e-")
        self.data_dir = os.path.join(self.dir, "var")
        self.key_file = os.path.join(self.dir, "master.key")
        self.conf = os.path.join(self.dir, "vellum.conf")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.env = dict(os.environ)
        self.env.setdefault("VELLUM_LOG_LEVEL", "info")
        if env:
            self.env.update(env)
        self.proc = None
        self.logf = None
        self.admin_password = None
        self.smtp_ports = {}
        self.http_addr = None
        text = ("[storage]\n"
                "data_dir = %s\n"
                "master_key_file = %s\n"
                "min_free = 1M\n"
                "[smtp]\n"
                "listen = 127.0.0.1:0\n"
                "[http]\n"
                "listen = 127.0.0.1:0\n" % (self.data_dir, self.key_file))
        text += archives if archives is not None else ""
        text += config_extra
        with open(self.conf, "w") as f:
            f.write(text)
        if init:
            self.init()
        if start:
            self.start()

    # ---- lifecycle ----
    def vellum(self, *args, input=None, check=False, timeout=120):
        """Runs the CLI against this config; returns CompletedProcess (text)."""
        p = subprocess.run([VELLUM_BIN, "-c", self.conf] + list(args), input=input,
                           capture_output=True, env=self.env, timeout=timeout)
        p.stdout_text = p.stdout.decode("utf-8", "replace")
        p.stderr_text = p.stderr.decode("utf-8", "replace")
        self.check_sanitizers(p.stderr_text, "vellum " + " ".join(args))
        if check and p.returncode != 0:
            self.t.diag("vellum %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                       p.stderr_text))
        return p

    def init(self):
        p = self.vellum("init")
        m = re.search(r"^admin password: (\S+)$", p.stdout_text, re.M)
        if p.returncode != 0 or not m:
            self.t.diag(p.stdout_text + p.stderr_text)
            self.t.bail("vellum init failed")
        self.admin_password = m.group(1)
        return p

    def start(self, timeout=30):
        ports = os.path.join(self.data_dir, "run", "ports")
        if os.path.exists(ports):
            os.unlink(ports)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([VELLUM_BIN, "-c", self.conf, "serve"],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=self.env)

        def ready():
            if self.proc.poll() is not None:
                return "dead"
            try:
                with open(ports) as f:
                    text = f.read()
            except OSError:
                return None
            return text if text.endswith("\n") and "http " in text else None

        text = wait_until(ready, timeout)
        if not text or text == "dead":
            self.t.diag(self.log_tail())
            self.t.bail("vellum serve did not start")
        self.smtp_ports = {}
        for line in text.splitlines():
            parts = line.split()
            if parts[0] == "smtp":
                self.smtp_ports[parts[1]] = parts[2]
            elif parts[0] == "http":
                self.http_addr = parts[1]

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit status (None if it had to be killed)."""
        if not self.proc:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.t.ok(False, "server stops within %ds of signal %d" % (timeout, sig))
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None
        self.check_sanitizers(self.log_text(), "vellum serve")
        return rc

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def check_sanitizers(self, text, what):
        for marker in SANITIZER_MARKERS:
            if marker in text:
                self.t.ok(False, "no sanitizer report from %s" % what, text[-4000:])
                return False
        return True

    def close(self):
        self.stop()
        if os.environ.get("VELLUM_KEEP_TMP"):
            self.t.diag("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- SMTP ----
    def smtp_addr(self, listener="default"):
        host, port = self.smtp_ports[listener].rsplit(":", 1)
        return host.strip("[]"), int(port)

    def smtp(self, listener="default", timeout=30):
        host, port = self.smtp_addr(listener)
        return smtplib.SMTP(host, port, timeout=timeout)

    def send_smtplib(self, sender, rcpts, msg_bytes, listener="default"):
        """Sends with smtplib; returns the server's reply text to DATA."""
        with self.smtp(listener) as c:
            c.ehlo("e2e.test")
            c.mail(sender)
            for r in rcpts:
                code, text = c.rcpt(r)
                if code != 250:
                    raise smtplib.SMTPRecipientsRefused({r: (code, text)})
            code, text = c.data(msg_bytes)
            if code != 250:
                raise smtplib.SMTPDataError(code, text)
            return text.decode("utf-8", "replace")

    def swaks(self, *args, listener="default"):
        host, port = self.smtp_addr(listener)
        p = subprocess.run(["swaks", "--server", host, "--port", str(port)] + list(args),
                           capture_output=True, timeout=60)
        p.out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
        return p

    # ---- HTTP ----
    def http(self, method, path, body=None, headers=None, timeout=30):
        host, port = self.http_addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        c.close()
        return resp

    def login(self, user="admin", password=None):
        """Logs in; returns a Session (cookie + CSRF token) or None."""
        r = self.http("POST", "/api/v1/session",
                      {"user": user, "password": password or self.admin_password})
        if r.status != 200:
            self.t.diag("login %s: %r" % (user, r))
            return None
        cookie = None
        for k, v in r.headers:
            if k.lower() == "set-cookie":
                cookie = v.split(";", 1)[0]
        data = r.json() or {}
        return Session(self, cookie, data.get("csrf_token"))

    def api(self, method, path, body=None, session=None, headers=None):
        h = dict(headers or {})
        if session:
            h["Cookie"] = session.cookie
            if method not in ("GET", "HEAD"):
                h["X-CSRF-Token"] = session.csrf
                h["Origin"] = "http://" + self.http_addr
        return self.http(method, path, body, h)

    def search(self, session, q, **params):
        params["q"] = q
        return self.api("GET", "/api/v1/search?" + urllib.parse.urlencode(params),
                        session=session)

    def wait_indexed(self, session, q, want=1, timeout=30):
        """Waits until the query has at least `want` results; returns the last JSON."""
        last = {}

        def found():
            nonlocal last
            r = self.search(session, q)
            last = r.json() or {}
            return r.status == 200 and last.get("total", 0) >= want

        wait_until(found, timeout, 0.1)
        return last


class Session:
    def __init__(self, server, cookie, csrf):
        self.server = server
        self.cookie = cookie
        self.csrf = csrf


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def make_message(subject, body, sender="alice@example.com", to="bob@example.com",
                 extra_headers="", msgid=None):
    """A small RFC 5322 message with CRLF line ends, as bytes."""
    msgid = msgid or "<%s@e2e.test>" % hashlib.sha1(
        (subject + body + str(time.time())).encode()).hexdigest()[:16]
    text = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: %s\r\n%sMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8"
            "\r\n\r\n%s\r\n" % (sender, to, subject, msgid, extra_headers, body))
    return text.encode("utf-8")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
