#!/usr/bin/env python3
"""Build the `busybox` rootfs tarball from Debian's busybox-static.

Reproducible: entries sorted, numeric owners 0:0, every mtime fixed
(SOURCE_DATE_EPOCH, default 0), gzip header without a timestamp, so two
builds from the same busybox binary are byte-identical.

usage: build-busybox.py [OUTPUT] [--busybox PATH]   (default build/busybox.tar.gz)
"""

import gzip
import io
import os
import subprocess
import sys
import tarfile

MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))

ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "etc/hostname": "busybox\n",
    "etc/resolv.conf": "",
    "etc/os-release": 'NAME="minipod busybox"\nID=busybox\n',
}
DIRS = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
        "etc": 0o755, "tmp": 0o1777, "root": 0o700, "proc": 0o555, "sys": 0o555,
        "dev": 0o755, "var": 0o755, "var/tmp": 0o1777, "var/log": 0o755, "home": 0o755,
        "www": 0o755}


def _info(name, kind, mode, size=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname = kind, mode, size, link
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = MTIME
    return ti


def build(busybox, output):
    applets = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    with open(busybox, "rb") as f:
        binary = f.read()
    entries = []  # (name, TarInfo, data)
    for d, mode in DIRS.items():
        entries.append((d, _info(d, tarfile.DIRTYPE, mode), None))
    entries.append(("bin/busybox", _info("bin/busybox", tarfile.REGTYPE, 0o755, len(binary)), binary))
    for path, text in ETC.items():
        data = text.encode()
        entries.append((path, _info(path, tarfile.REGTYPE, 0o644, len(data)), data))
    entries.append(("www/index.html", _info("www/index.html", tarfile.REGTYPE, 0o644, 23),
                    b"hello from minipod pod\n"))
    for applet in applets:
        if applet == "bin/busybox" or "/" not in applet:
            continue
        entries.append((applet, _info(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox"), None))
    entries.sort(key=lambda e: e[0])
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for _, ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    tmp = output + ".tmp"
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0,
                                                compresslevel=9) as gz:
        gz.write(buf.getvalue())
    os.replace(tmp, output)


def main(argv):
    busybox = "/bin/busybox"
    args = list(argv[1:])
    if "--busybox" in args:
        i = args.index("--busybox")
        busybox = args[i + 1]
        del args[i:i + 2]
    output = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "build", "busybox.tar.gz")
    if not os.access(busybox, os.X_OK):
        sys.exit(f"build-busybox: {busybox} is missing: install busybox-static (apt-get install busybox-static)")
    try:
        build(busybox, os.path.normpath(output))
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"build-busybox: {e}")
    print(os.path.normpath(output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
