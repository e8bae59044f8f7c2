#!/usr/bin/env python3
"""make_wheels.py DIR NAME VERSION...: a PEP 503 simple index in DIR/simple with one pure-Python
wheel per VERSION of distribution NAME (a module NAME.py that knows its version), for the CVE
patch tests: pip installs from it as from PyPI, which these machines cannot reach."""
import base64
import hashlib
import os
import sys
import zipfile


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def wheel(files_dir, name, version):
    dist = "%s-%s.dist-info" % (name, version)
    files = {
        name + ".py": ("__version__ = %r\n" % version).encode(),
        dist + "/METADATA": ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)).encode(),
        dist + "/WHEEL": b"Wheel-Version: 1.0\nGenerator: gsi-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [record_line(p, d) for p, d in files.items()] + [dist + "/RECORD,,"]
    files[dist + "/RECORD"] = ("\n".join(record) + "\n").encode()
    fname = "%s-%s-py3-none-any.whl" % (name, version)
    with zipfile.ZipFile(os.path.join(files_dir, fname), "w") as z:
        for p, d in files.items():
            z.writestr(p, d)
    return fname


def main():
    top, name, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
    files_dir = os.path.join(top, "files")
    project = os.path.join(top, "simple", name)
    os.makedirs(files_dir, exist_ok=True)
    os.makedirs(project, exist_ok=True)
    links = ['<a href="../../files/%s">%s</a>' % (f, f) for f in (wheel(files_dir, name, v) for v in versions)]
    with open(os.path.join(project, "index.html"), "w") as f:
        f.write("<!DOCTYPE html>\n<html><body>\n%s\n</body></html>\n" % "\n".join(links))


main()
