"""fixture.py — a Vellum server with known mail, for the browser tests.

Started by run.mjs: starts `vellum serve` on ephemeral ports (tests/e2e/vellumtest.py),
sends the messages named on stdin as JSON, prints one JSON line describing the
server, then waits for stdin to close and stops the server (failing on any
sanitizer report).

stdin (first line): {"messages": [{"from": ..., "to": [...], "raw": "..."}], "users": [...]}
stdout: {"url": "http://127.0.0.1:PORT", "password": "...", "sha256": [...], "data_dir": ...}
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from vellumtest import Server, Tap, sha256  # noqa: E402


def main():
    spec = json.loads(sys.stdin.readline() or "{}")
    t = Tap()
    s = Server(t, config_extra=spec.get("config", ""))
    try:
        hashes = []
        for m in spec.get("messages", []):
            raw = m["raw"].encode("utf-8")
            s.send_smtplib(m["from"], m["to"], raw)
            hashes.append(sha256(raw))
        for u in spec.get("users", []):
            args = ["user", "add", u["name"], "--password-stdin"]
            for g in u.get("grants", []):
                args += ["--role", g["role"], "--archive", g["archive"]]
            p = s.vellum(*args, input=(u["password"] + "\n").encode())
            if p.returncode != 0:
                raise RuntimeError("user add failed: " + p.stderr_text)
        print(json.dumps({"url": "http://" + s.http_addr, "password": s.admin_password,
                          "sha256": hashes, "data_dir": s.data_dir, "conf": s.conf,
                          "smtp": s.smtp_ports}), flush=True)
        sys.stdin.read()
    finally:
        rc = s.stop()
        s.close()
        if rc != 0 or t.failed:
            sys.stderr.write("fixture: server exit %s, %d failures\n" % (rc, t.failed))
            sys.exit(1)


if __name__ == "__main__":
    main()
