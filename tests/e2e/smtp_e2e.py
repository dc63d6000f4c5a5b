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


# ---- a private Postfix instance (journal source) ----

POSTFIX_MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def postfix_available():
    return all(os.path.exists(p) for p in ("/usr/sbin/postfix", "/usr/sbin/sendmail",
                                           "/usr/sbin/postconf")) and os.getuid() == 0


class Postfix:
    """A Postfix with its own config, queue and data directories under `base`
    (no chroot, nothing listening: mail comes in through its sendmail), relaying
    domain `relay_domain` to Vellum at host:port with opportunistic STARTTLS,
    everything else discarded; always_bcc copies every message to `bcc`.
    Runs as root with mail_owner postfix (the Debian package's user)."""

    def __init__(self, base, relay_domain, host, port, bcc=None):
        self.base = base
        self.etc = os.path.join(base, "etc")
        self.spool = os.path.join(base, "spool")
        self.data = os.path.join(base, "data")
        self.maillog = os.path.join(base, "maillog")
        for d in (self.etc, self.spool, self.data):
            os.makedirs(d, exist_ok=True)
        os.chmod(base, 0o755)
        subprocess.run(["chown", "postfix", self.data], check=True)
        main = {
            "compatibility_level": "3.6",
            "config_directory": self.etc,
            "queue_directory": self.spool,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "source.test",
            "mydomain": "source.test",
            "myorigin": "source.test",
            "mydestination": "",
            "alias_maps": "",
            "alias_database": "",
            "local_transport": "error:no local delivery",
            "transport_maps": "inline:{ %s=smtp:[%s]:%d }" % (relay_domain, host, port),
            "default_transport": "discard:",
            "smtp_tls_security_level": "may",
            "smtp_tls_loglevel": "1",
            "smtputf8_enable": "yes",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": base,
        }
        if bcc:
            main["always_bcc"] = bcc
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF)

    def _run(self, *args):
        # Postfix reports start-up errors on a terminal only: give it one.
        cmd = " ".join(["postfix", "-c", self.etc] + list(args))
        return subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                              timeout=60)

    def start(self):
        p = self._run("start")
        if p.returncode != 0:
            return p.stdout.decode("utf-8", "replace")
        ok = wait_until(lambda: self._run("status").returncode == 0, 20)
        return None if ok else "postfix status: not running"

    def running(self):
        return self._run("status").returncode == 0

    def stop(self):
        self._run("stop")
        wait_until(lambda: not self.running(), 20)

    def sendmail(self, sender, rcpts, msg, *flags):
        # -i: a line with a lone "." is message text, not the end of input
        p = subprocess.run(["/usr/sbin/sendmail", "-C", self.etc, "-i", "-f", sender] +
                           list(flags) +
                           ["--"] + list(rcpts), input=msg, capture_output=True, timeout=60)
        return p.returncode

    def queue_empty(self):
        p = subprocess.run(["postqueue", "-c", self.etc, "-p"], capture_output=True,
                           timeout=60)
        return b"Mail queue is empty" in p.stdout

    def log(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""
