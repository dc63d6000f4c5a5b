"""smtp_e2e — helpers for the SMTP end-to-end tests (test_smtp_*.py, test_postfix.py).

A raw SMTP client over a real socket (bytes in, whole replies out, STARTTLS
through Python's ssl module), a test certificate made at test time with
openssl (or certtool), and reading stored messages back through the HTTP API
(/api/v1/messages/{id}/raw) to compare SHA-256s.  Builds on vellumtest.
"""

import os
import re
import socket
import ssl
import subprocess
import time

from vellumtest import sha256, wait_until

REPLY_END = re.compile(rb"^\d{3} [^\r\n]*\r\n", re.M)


def make_cert(directory, cn="localhost"):
    """A self-signed EC certificate and key for 127.0.0.1/localhost; returns (cert, key)."""
    cert = os.path.join(directory, "smtp-cert.pem")
    key = os.path.join(directory, "smtp-key.pem")
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
           "-days", "2", "-subj", "/CN=" + cn,
           "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    p = subprocess.run(cmd, capture_output=True)
    if p.returncode != 0:
        # certtool (gnutls-bin) as the fallback
        tmpl = os.path.join(directory, "cert.tmpl")
        with open(tmpl, "w") as f:
            f.write('cn = "%s"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n'
                    "expiration_days = 2\ntls_www_server\nsigning_key\n" % cn)
        subprocess.run(["certtool", "--generate-privkey", "--key-type", "ecdsa",
                        "--outfile", key], check=True, capture_output=True)
        subprocess.run(["certtool", "--generate-self-signed", "--load-privkey", key,
                        "--template", tmpl, "--outfile", cert], check=True,
                       capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def client_tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Raw:
    """A raw SMTP client: send exact bytes, read whole replies."""

    def __init__(self, addr, timeout=20):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""
        self.addr = addr

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def reply(self):
        """One whole reply (all its lines) as text, or None at EOF/timeout."""
        while True:
            m = REPLY_END.search(self.buf)
            if m:
                # every line before the final one is "NNN-..."
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out.decode("utf-8", "replace")
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ConnectionError, ssl.SSLError):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def ehlo(self, name="raw.test"):
        return self.cmd("EHLO " + name)

    def starttls(self, ctx=None):
        """Upgrades the socket; returns the SSLSocket's version()."""
        self.sock = (ctx or client_tls_context()).wrap_socket(self.sock,
                                                               server_hostname="localhost")
        self.buf = b""
        return self.sock.version()

    def at_eof(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except (socket.timeout, ConnectionError, ssl.SSLError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def greet(server, listener="default", helo=True):
    c = Raw(server.smtp_addr(listener))
    g = c.reply()
    if helo:
        c.ehlo()
    c.greeting = g
    return c


def stored_ids(reply):
    """The message ids of a '250 2.0.0 Stored: a-1 b-2' reply."""
    m = re.search(r"Stored: ([^\r\n]+)", reply or "")
    return m.group(1).split() if m else []


class Reader:
    """Reads stored messages back through the HTTP API as admin."""

    def __init__(self, server):
        self.s = server
        self.sess = server.login("admin")

    def raw(self, mid):
        r = self.s.api("GET", "/api/v1/messages/%s/raw" % mid, session=self.sess)
        return r.body if r.status == 200 else None

    def detail(self, mid):
        r = self.s.api("GET", "/api/v1/messages/%s" % mid, session=self.sess)
        return r.json() if r.status == 200 else None

    def matches(self, mid, want):
        got = self.raw(mid)
        return got is not None and sha256(got) == sha256(want)


def metrics(server):
    return server.http("GET", "/metrics").body.decode("utf-8", "replace")


def metric_value(text, name, **labels):
    """The value of one series (labels in any order), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        series, _, value = line.rpartition(" ")
        ok = all('%s="%s"' % (k, v) in series for k, v in labels.items())
        if ok:
            return float(value)
    return None


def stored_count(server, archive="default"):
    """Messages stored in an archive, from the SMTP counters (250 per archive)."""
    text = metrics(server)
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vellum_smtp_archive_messages_total{") and \
                'archive="%s"' % archive in line and 'code="250"' in line:
            total += float(line.rpartition(" ")[2])
    return int(total)


def wait_stored(server, n, archive="default", timeout=60):
    return wait_until(lambda: stored_count(server, archive) >= n, timeout, 0.2)


def now():
    return time.monotonic()
