#!/usr/bin/env python3
"""Build the `nginx` and `python` images as OCI archives, from the host's
Debian packages, reproducibly (see images/oci.py); and the e2e suite's
`agnhost` image from its binary built from Debian's Kubernetes source
(scripts/conformance).

Each image is two layers: the busybox rootfs (byte for byte the layer of
the `busybox` image, so all three share it on disk) and the program's own
files: its binaries, the shared libraries they load (found with ldd, as
copied by the way distroless and "FROM scratch" images are made), and its
data. Copying from installed packages was chosen over mmdebstrap: a build
takes seconds, needs no mirror access beyond `apt-get install`, and the
image holds only what the program loads (nginx: ~8 MB, python: ~35 MB).

nginx's files may come from an unpacked package instead of the installed
one (--root DIR: Debian's nginx and nginx-common .debs unpacked there with
`dpkg-deb -x`): that is how scripts/setup builds it, so that no nginx
service is ever installed or started on the host. A file that is missing
is one line naming the package to install, never a traceback.

usage: build-image.py nginx|python OUTPUT [--root DIR] | agnhost OUTPUT --root AGNHOST_BINARY
"""

import gzip
import os
import re
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oci  # noqa: E402

NGINX_CONF = """user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr notice;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}
"""
NGINX_DEFAULT = """server {
    listen 80 default_server;
    server_name _;
    root /usr/share/nginx/html;
    index index.html;
}
"""
PASSWD_EXTRA = {"nginx": ("www-data:x:33:33:www-data:/var/www:/bin/false\n", "www-data:x:33:\n"),
                "python": ("", ""), "agnhost": ("", "")}


class Missing(Exception):
    """A file the recipe needs is not on this host: the message says which
    package provides it."""


PACKAGE_OF = {"nginx": "nginx (or --root with Debian's nginx and nginx-common unpacked)",
              "python": "python3"}


def _need(path: str, name: str) -> str:
    if not os.path.exists(path):
        raise Missing(f"{path} is missing: install {PACKAGE_OF[name]}")
    return path


def libraries(paths) -> list:
    """Every shared library ``paths`` load (ldd), the loader included."""
    libs = set()
    for path in paths:
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "not found" in line:
                raise Missing(f"{path} needs {line.split()[0]}, which this host lacks: install the "
                              f"Debian package that provides it (apt-file search {line.split()[0]})")
            m = re.search(r"(/\S+)", line.split("=>")[-1])
            if m and os.path.exists(m.group(1)):
                libs.add(m.group(1))
    return sorted(libs)


def _file_entries(host_paths, add, root=""):
    """Entries for host files at the very paths given (a symlink's content is
    copied: the image has no merged /usr, so /lib64/ld-linux-x86-64.so.2 must
    exist there itself), and their parent dirs; read below ``root``."""
    for path in host_paths:
        _parents(path, add)
        add(_regular(root + path, name=path))


def _regular(path, name=None):
    real = os.path.realpath(path)
    with open(real, "rb") as f:
        data = f.read()
    return oci.entry((name or path).lstrip("/"), data=data, mode=os.stat(real).st_mode & 0o755 | 0o644)


def _parents(path, add):
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        add(oci.entry("/".join(parts[:i]), tarfile.DIRTYPE, 0o755))


def _tree(top, add, skip=()):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        add(oci.entry(dirpath.lstrip("/"), tarfile.DIRTYPE, 0o755))
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                add(oci.entry(path.lstrip("/"), tarfile.SYMTYPE, 0o777, link=os.readlink(path)))
            elif os.path.isfile(path):
                add(_regular(path))


def _base_etc(busybox_tar: bytes, name: str) -> dict:
    """passwd and group of the busybox layer, plus the image's users."""
    import io
    out = {}
    with tarfile.open(fileobj=io.BytesIO(busybox_tar)) as tar:
        for rel in ("etc/passwd", "etc/group"):
            out[rel] = tar.extractfile(rel).read().decode()
    extra_passwd, extra_group = PASSWD_EXTRA[name]
    return {"etc/passwd": out["etc/passwd"] + extra_passwd, "etc/group": out["etc/group"] + extra_group}


def nginx_layer(add, root=""):
    binary = _need(root + "/usr/sbin/nginx", "nginx")
    _file_entries(["/usr/sbin/nginx"], add, root)
    _file_entries(libraries([binary]), add)
    for rel in ("etc/nginx/mime.types", "usr/share/nginx/html/index.html"):
        _need(f"{root}/{rel}", "nginx")
        _file_entries(["/" + rel], add, root)
    add(oci.entry("etc/nginx/nginx.conf", data=NGINX_CONF.encode()))
    add(oci.entry("etc/nginx/conf.d", tarfile.DIRTYPE, 0o755))
    add(oci.entry("etc/nginx/conf.d/default.conf", data=NGINX_DEFAULT.encode()))
    for d in ("var/lib/nginx", "var/log/nginx", "run", "var/www"):
        add(oci.entry(d, tarfile.DIRTYPE, 0o755))
    return {"Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {"80/tcp": {}},
            "StopSignal": "SIGQUIT", "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}


def python_layer(add):
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    exe = _need(f"/usr/bin/{version}", "python")
    stdlib = _need(f"/usr/lib/{version}", "python")
    dynload = [os.path.join(stdlib, "lib-dynload", f) for f in os.listdir(os.path.join(stdlib, "lib-dynload"))]
    _file_entries([exe] + libraries([exe] + dynload), add)
    add(oci.entry("usr/bin/python3", tarfile.SYMTYPE, 0o777, link=version))
    _tree(stdlib, add, skip=("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                             "__pycache__", "site-packages", "dist-packages", "config-3.11-x86_64-linux-gnu"))
    if os.path.isdir(f"/etc/{version}"):
        _tree(f"/etc/{version}", add)
    return {"Cmd": ["python3"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                        "LANG=C.UTF-8"]}


def agnhost_layer(add, binary: str):
    """Kubernetes' e2e test image, as its Dockerfile makes it on its base
    (here busybox's, which gives the tests /bin/sh): /agnhost, the porter's
    test certificate beside it, /uploads; ENTRYPOINT /agnhost, CMD pause."""
    porter = os.path.join(os.path.dirname(os.path.realpath(binary)), "..", "gopath", "src", "k8s.io", "kubernetes",
                          "test", "images", "agnhost", "porter")
    add(_regular(binary, "agnhost"))
    add(oci.entry("agnhost-2", tarfile.SYMTYPE, 0o777, link="agnhost"))
    for name in ("localhost.crt", "localhost.key"):
        if os.path.exists(os.path.join(porter, name)):
            add(_regular(os.path.join(porter, name), name))
    add(oci.entry("uploads", tarfile.DIRTYPE, 0o755))
    return {"Entrypoint": ["/agnhost"], "Cmd": ["pause"],
            "ExposedPorts": {f"{p}/tcp": {} for p in (80, 8080, 8081, 9376)},
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}


def build(name: str, output: str, busybox_gz: str, root: str = "") -> None:
    with open(busybox_gz, "rb") as f:
        base_gz = f.read()
    base = gzip.decompress(base_gz)
    seen = {}

    def add(e):
        seen.setdefault(e[0].name, e)  # first wins: dirs before files, no duplicates
    config = nginx_layer(add, root) if name == "nginx" else agnhost_layer(add, root) if name == "agnhost" \
        else python_layer(add)
    for rel, text in _base_etc(base, name).items():
        seen[rel] = oci.entry(rel, data=text.encode())
    top = oci.layer(list(seen.values()))
    # The base layer is stored as the busybox image stores it (same gzip
    # bytes), so the three images share one layer on disk.
    oci.write_archive(output, [base, top], config, ref=name, compressed_layers=[base_gz, oci.gz(top)])


def main(argv):
    root = ""
    if len(argv) == 5 and argv[3] == "--root":
        root, argv = os.path.abspath(argv[4]).rstrip("/"), argv[:3]
    if len(argv) != 3 or argv[1] not in ("nginx", "python", "agnhost") or (root and argv[1] == "python") \
            or (argv[1] == "agnhost" and not root):
        sys.exit(__doc__.strip().splitlines()[-1])
    busybox_gz = os.path.join(HERE, "..", "build", "busybox.tar.gz")
    try:
        if not os.path.exists(busybox_gz):
            subprocess.run([sys.executable, os.path.join(HERE, "build-busybox.py"), busybox_gz], check=True)
        os.makedirs(os.path.dirname(os.path.abspath(argv[2])), exist_ok=True)
        build(argv[1], argv[2], busybox_gz, root)
    except Missing as e:
        sys.exit(f"build-image: {argv[1]}: {e}")
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"build-image: {argv[1]}: {e}")
    print(argv[2])


if __name__ == "__main__":
    main(sys.argv)
