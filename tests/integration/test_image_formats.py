"""Real images: docker archives from podman, OCI archives with layers and
whiteouts, the layer store, digests, the image config, pull from a local
registry, and the nginx and python images built from Debian packages."""

import os
import shutil
import socket
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import REPO, TEST_ROOT
from tests.integration.conftest import mp, mp_json, sh, wait_for

sys.path.insert(0, str(REPO / "images"))
import oci  # noqa: E402

LAYERS = TEST_ROOT / "lib" / "layers"
F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
BUSYBOX_GZ = TEST_ROOT / "busybox.tar.gz"


def _layers():
    return sorted(p.name for p in LAYERS.iterdir() if p.is_dir()) if LAYERS.is_dir() else []


def _base():
    import gzip
    return gzip.decompress(BUSYBOX_GZ.read_bytes())


def _archive(path, layers, config=None, ref="img", **kw):
    oci.write_archive(str(path), [oci.layer(l, sort=False) if isinstance(l, list) else l for l in layers],
                      config, ref, **kw)
    return path


def _ls(image, *paths):
    """What `ls -d` finds of ``paths`` in a container of ``image``."""
    out = mp("run", "--rm", "--network", "none", image, "sh", "-c",
             " ".join(f"[ -e {p} ] && echo {p};" for p in paths) + " true").stdout
    return out.split()


def test_docker_archive_from_podman_with_its_config(tmp_path):
    import tempfile
    runroot = tempfile.mkdtemp(prefix="mpt-podman-")  # podman wants a runroot under 50 characters
    try:
        _docker_archive_from_podman(tmp_path, ["--root", str(tmp_path / "storage"), "--runroot", runroot,
                                               "--storage-driver", "vfs", "--log-level", "error"])
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def _docker_archive_from_podman(tmp_path, store):
    changes = ['ENTRYPOINT ["/bin/echo", "entry:"]', 'CMD ["from", "podman"]', "ENV GREETING=hello",
               "WORKDIR /www", "USER nobody", "EXPOSE 8080", "LABEL team=net", "STOPSIGNAL SIGINT"]
    sh_args = ["podman", *store, "import", *[a for c in changes for a in ("--change", c)],
               str(BUSYBOX_GZ), "localhost/fromdocker:v1"]
    proc = subprocess.run(sh_args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    archive = tmp_path / "docker.tar"
    proc = subprocess.run(["podman", *store, "save", "--format", "docker-archive", "-o", str(archive),
                           "localhost/fromdocker:v1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "manifest.json" in tarfile.open(archive).getnames()
    assert mp("image", "import", archive).stdout.strip() == "localhost/fromdocker:v1"  # named by its RepoTags
    info = mp_json("image", "inspect", "localhost/fromdocker:v1")[0]
    assert info["Format"] == "docker-archive" and info["Config"]["User"] == "nobody"
    assert info["Config"]["ExposedPorts"] == {"8080/tcp": {}} and info["Config"]["Labels"] == {"team": "net"}
    # Entrypoint + Cmd; arguments replace Cmd; --entrypoint replaces both
    assert mp("run", "--rm", "localhost/fromdocker:v1").stdout == "entry: from podman\n"
    assert mp("run", "--rm", "localhost/fromdocker:v1", "args").stdout == "entry: args\n"
    assert mp("run", "--rm", "--entrypoint", "sh", "localhost/fromdocker:v1", "-c",
              "echo $GREETING $(pwd) $(id -u):$(id -g)").stdout == "hello /www 65534:65534\n"
    # -e, -w and -u win over the image's
    assert mp("run", "--rm", "-e", "GREETING=bye", "-w", "/", "-u", "0", "--entrypoint", "sh",
              "localhost/fromdocker:v1", "-c", "echo $GREETING $(pwd) $(id -u)").stdout == "bye / 0\n"
    mp("run", "-d", "--name", "stopme", "--entrypoint", "sh", "localhost/fromdocker:v1", "-c",
       "trap 'exit 42' INT; while :; do sleep 1; done")
    mp("stop", "-t", "10", "stopme")  # StopSignal SIGINT: the trap answers, no SIGKILL needed
    assert mp_json("inspect", "stopme")[0]["State"]["ExitCode"] == 42
    mp("rm", "stopme")
    mp("image", "rm", "localhost/fromdocker:v1")


def test_oci_archive_three_layers_with_both_whiteout_kinds(tmp_path):
    l1 = [oci.entry(n, D, 0o755) for n in ("data", "data/a", "data/b", "data/c")] + \
         [oci.entry(f"data/{n}", data=n.encode()) for n in ("a/keep", "a/gone", "b/old1", "b/old2", "c/file")]
    l2 = [oci.entry("data", D, 0o755), oci.entry("data/a", D, 0o755), oci.entry("data/a/.wh.gone"),
          oci.entry("data/b", D, 0o755), oci.entry("data/b/.wh..wh..opq"), oci.entry("data/b/new", data=b"n"),
          oci.entry("data/d", D, 0o755), oci.entry("data/d/added", data=b"d")]
    l3 = [oci.entry("data", D, 0o755), oci.entry("data/.wh.c"), oci.entry("data/e", data=b"e"),
          oci.entry("data/d", D, 0o755), oci.entry("data/d/added-link", H, link="data/b/new")]
    archive = _archive(tmp_path / "three.tar", [_base(), l1, l2, l3], {"Cmd": ["sh"]}, ref="three")
    mp("image", "import", archive)
    present = _ls("three", "/data/a/keep", "/data/a/gone", "/data/b/new", "/data/b/old1", "/data/b/old2",
                  "/data/c", "/data/d/added", "/data/d/added-link", "/data/e")
    assert present == ["/data/a/keep", "/data/b/new", "/data/d/added", "/data/d/added-link", "/data/e"]
    out = mp("run", "--rm", "three", "sh", "-c", "find / -xdev -name '.wh.*' | head -3; cat /data/d/added-link")
    assert out.stdout == "n"  # no whiteout file anywhere; the hard link reached a lower layer's file
    assert len(mp_json("image", "inspect", "three")[0]["RootFS"]["Layers"]) == 4
    mp("image", "rm", "three")


def test_a_layer_writing_through_a_lower_layers_symlink_is_refused(tmp_path):
    """The GNU tar CVE-2025-45582 pattern: layer 1 plants a symlink, layer 2
    writes through it. Checked against the accumulated rootfs."""
    before_layers, before_tmp = _layers(), sorted(os.listdir("/tmp"))
    for i, target in enumerate(("/tmp", "../../../../../../tmp")):
        l1 = [oci.entry("x", S, 0o777, link=target)]
        l2 = [oci.entry("x/minipod-escape-layer", data=b"pwned")]
        archive = _archive(tmp_path / f"cve{i}.tar", [_base(), l1, l2], ref=f"cve{i}")
        proc = mp("image", "import", archive, check=False)
        assert proc.returncode == 125 and "is a symlink" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not os.path.exists("/tmp/minipod-escape-layer")
    assert not [f for f in set(os.listdir("/tmp")) - set(before_tmp) if "minipod" in f or "escape" in f]
    assert _layers() == before_layers  # no new layer, no temp dir
    assert "cve0" not in mp("image", "ls").stdout


def test_wrong_digests_are_refused_and_nothing_is_left(tmp_path):
    before = _layers()
    good = oci.layer([oci.entry("f", data=b"good")])
    evil = oci.layer([oci.entry("f", data=b"evil")])
    # a blob whose content is not what its descriptor (and file name) says
    path = _archive(tmp_path / "tampered.tar", [_base(), good], ref="tampered")
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() if m.isfile() else None for m in tar.getmembers()}
    digest = "blobs/sha256/" + __import__("hashlib").sha256(oci.gz(good)).hexdigest()
    members[digest] = oci.gz(evil)
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            ti, _ = oci.entry(name, D if data is None else F, 0o755 if data is None else 0o644,
                              data=data or b"")
            tar.addfile(ti, __import__("io").BytesIO(data) if data is not None else None)
    proc = mp("image", "import", path, check=False)
    assert proc.returncode == 125 and "digest mismatch" in proc.stderr and "tampered" in proc.stderr
    # a config whose diff_id does not match the layer
    path2 = tmp_path / "diffid.tar"
    oci.write_archive(str(path2), [_base(), good], None, "diffid", compressed_layers=[BUSYBOX_GZ.read_bytes(),
                                                                                     oci.gz(evil)])
    proc = mp("image", "import", path2, check=False)
    assert proc.returncode == 125 and "diff_id mismatch" in proc.stderr
    assert _layers() == before and "tampered" not in mp("image", "ls").stdout


def test_images_sharing_a_base_store_it_once(tmp_path):
    before = _layers()
    for name in ("one", "two"):
        top = oci.layer([oci.entry(f"{name}.txt", data=name.encode())])
        _archive(tmp_path / f"{name}.tar", [_base(), top], {"Cmd": ["cat", f"/{name}.txt"]}, ref=name)
        mp("image", "import", tmp_path / f"{name}.tar")
    added = sorted(set(_layers()) - set(before))
    assert len(added) == 2  # one top layer each; the base is the busybox image's own layer
    rows = {l.split()[0]: l for l in mp("image", "ls").stdout.splitlines()[1:]}
    assert "with busybox, two" in rows["one"] or "with two" in rows["one"]
    assert mp("run", "--rm", "one").stdout == "one" and mp("run", "--rm", "two").stdout == "two"
    mp("image", "rm", "one")
    assert len(set(_layers()) - set(before)) == 1  # two's top layer; the shared base stays
    mp("run", "--rm", "two")
    mp("image", "rm", "two")
    assert _layers() == before
    assert "layer" not in mp("gc", "--dry-run").stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry (the CNCF distribution registry) on
    127.0.0.1, its storage in a temp dir; stopped after the test."""
    port = _free_port()
    conf = tmp_path / "registry.yml"
    conf.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {tmp_path / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: sh(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{port}/v2/",
                            check=False).stdout == "200", what="the registry")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pull_from_a_local_registry(tmp_path, registry):
    top = oci.layer([oci.entry("hello.txt", data=b"pulled\n")])
    archive = _archive(tmp_path / "p.tar", [_base(), top], {"Cmd": ["cat", "/hello.txt"]}, ref="p")
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci-archive:{archive}",
                    f"docker://{registry}/demo/hello:v1"], check=True)
    assert mp("pull", "--no-tls-verify", f"{registry}/demo/hello:v1").stdout.strip() == f"{registry}/demo/hello:v1"
    assert [l.split()[:2] for l in mp("image", "ls").stdout.splitlines() if l.startswith(registry)] == \
        [[f"{registry}/demo/hello", "v1"]]
    # run of a registry reference uses the pulled image
    assert mp("run", "--rm", f"{registry}/demo/hello:v1").stdout == "pulled\n"
    proc = mp("pull", "--no-tls-verify", f"{registry}/demo/nothere:v1", check=False)
    assert proc.returncode == 125 and "manifest unknown" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = mp("pull", f"{registry}/demo/hello:v1", check=False)  # TLS against a plain-HTTP registry
    assert proc.returncode == 125 and len(proc.stderr.strip().splitlines()) == 1
    proc = mp("pull", "hello", check=False)
    assert proc.returncode == 125 and "names no registry" in proc.stderr
    mp("image", "rm", f"{registry}/demo/hello:v1")


def _built(name):
    """The recipe's archive, built once per checkout (build/ caches it;
    scripts/setup-images makes the nginx one from the unpacked package)."""
    out = REPO / "build" / f"{name}.oci.tar"
    if not out.exists():
        subprocess.run([sys.executable, str(REPO / "images" / "build-image.py"), name, str(out)],
                       check=True, capture_output=True)
    return out


def test_nginx_image_serves_its_default_page_on_a_host_port():
    mp("image", "import", _built("nginx"))
    mp("run", "-d", "--name", "web", "-p", "18095:80", "nginx")
    page = wait_for(lambda: sh("curl -s --max-time 3 http://127.0.0.1:18095/", check=False).stdout,
                    what="nginx")
    assert "<title>Welcome to nginx!</title>" in page
    assert '"GET / HTTP/1.1" 200' in mp("logs", "web").stdout  # the access log goes to stdout
    mp("rm", "-f", "web")
    mp("image", "rm", "nginx")


def test_python_image_runs_python_with_its_stdlib():
    mp("image", "import", _built("python"))
    out = mp("run", "--rm", "python", "python3", "-c",
             "import json, sqlite3, ssl, hashlib; print(json.dumps({'answer': 6 * 7}))").stdout
    assert out == '{"answer": 42}\n'
    mp("image", "rm", "python")


def test_gc_frees_layers_no_image_uses(tmp_path):
    """What an `image rm` interrupted between the record and the layers leaves."""
    before = _layers()
    top = oci.layer([oci.entry("orphan.txt", data=b"o")])
    mp("image", "import", _archive(tmp_path / "o.tar", [_base(), top], ref="orphan"))
    shutil.rmtree(TEST_ROOT / "lib" / "images" / mp_json("image", "inspect", "orphan")[0]["Id"].split(":")[1])
    found = mp("gc", "--dry-run", check=False).stdout
    assert found.count("\tlayer\t") == 1, found
    mp("gc")
    assert _layers() == before and mp("gc", "--dry-run").stdout == ""
