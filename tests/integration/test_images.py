"""Image import, listing, removal, and hostile archives."""

import io
import json
import os
import tarfile

import pytest

from tests.conftest import TEST_ROOT
from tests.integration.conftest import mp, mp_json

IMAGES = TEST_ROOT / "lib" / "images"
BUSYBOX_ONLY = ["9e7d375de47531dc1b1dac028ddd798328556e29c2cb45c15b28b513a7c390d5"]  # its id: images/<id>/
LAYERS = TEST_ROOT / "lib" / "layers"


def _rootfs(name):
    """The (single) layer directory an image's containers see."""
    from pathlib import Path
    lowers = mp_json("image", "inspect", name)[0]["GraphDriver"]["Data"]["LowerDir"].split(":")
    assert len(lowers) == 1
    return Path(lowers[0])


def _layer_dirs():
    return sorted(p.name for p in LAYERS.iterdir()) if LAYERS.is_dir() else []


def _tar(path, entries, mode="w"):
    """entries: (name, type, data_or_linkname, mode)."""
    with tarfile.open(path, mode) as tar:
        for name, kind, payload, perm in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = perm
            data = None
            if kind == tarfile.REGTYPE:
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
            elif kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = payload
            elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 8, 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE

HOSTILE = {
    "dotdot": ([("../../../../tmp/minipod-escape-dotdot", F, "x", 0o644)], "'..' leaves the rootfs"),
    "absolute": ([("/tmp/minipod-escape-abs", F, "x", 0o644)], "absolute path"),
    "symlink-to-root-then-write": ([("root", S, "/", 0o777), ("root/tmp/minipod-escape-sym", F, "x", 0o644)],
                                   "is a symlink"),
    "symlinked-parent-dir": ([("etc", D, None, 0o755), ("etc/x", S, "/tmp", 0o777),
                              ("etc/x/minipod-escape-parent", F, "x", 0o644)], "is a symlink"),
    "symlink-dotdot-chain": ([("a", S, "../../../../../tmp", 0o777), ("a/minipod-escape-chain", F, "x", 0o644)],
                             "is a symlink"),
    "hardlink-to-host-file": ([("passwd", H, "/etc/passwd", 0o644)], "absolute path"),
    "hardlink-dotdot": ([("passwd", H, "../../../../etc/passwd", 0o644)], "'..' leaves"),
    # Limits as tar implementations have them: no RecursionError, no
    # ENAMETOOLONG from the kernel, one line naming the entry.
    "3000-levels-deep": ([("d/" * 3000 + "f", F, "x", 0o644)], "exceeds the limit of 4095"),
    "257-directories-deep": ([("d/" * n, D, None, 0o755) for n in range(1, 258)], "deep exceeds the limit of 256"),
    "long-component": ([("a" * 300, F, "x", 0o644)], "longer than 255 bytes"),
    "long-symlink-target": ([("link", S, "t" * 5000, 0o777)], "invalid symlink target"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_is_written(tmp_path, case):
    entries, reason = HOSTILE[case]
    archive = _tar(tmp_path / f"{case}.tar", entries)
    before = sorted(os.listdir("/tmp"))
    layers_before = _layer_dirs()
    shadow_before = open("/etc/passwd", "rb").read()
    proc = mp("image", "import", archive, f"hostile-{case}", check=False)
    assert proc.returncode == 125
    assert reason in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not [f for f in os.listdir("/tmp") if f.startswith("minipod-escape")]
    # what appeared in /tmp meanwhile is only other programs' (none of it ours)
    assert not [f for f in set(os.listdir("/tmp")) - set(before) if "minipod" in f or "escape" in f]
    assert open("/etc/passwd", "rb").read() == shadow_before
    assert sorted(os.listdir(IMAGES)) == BUSYBOX_ONLY  # nothing half-imported
    assert _layer_dirs() == layers_before  # no layer, no temporary directory


def test_devices_and_fifos_are_skipped_with_a_warning_setuid_kept(tmp_path):
    archive = _tar(tmp_path / "dev.tar", [
        ("bin", D, None, 0o755), ("bin/su", F, "#!/bin/sh\n", 0o4755),
        ("dev", D, None, 0o755), ("dev/sda", tarfile.BLKTYPE, None, 0o660),
        ("dev/fifo", tarfile.FIFOTYPE, None, 0o644), ("link", S, "/etc/passwd", 0o777),
        ("hard", H, "bin/su", 0o4755)])
    proc = mp("image", "import", archive, "devs")
    assert "skipped 'dev/sda'" in proc.stderr and "skipped 'dev/fifo'" in proc.stderr
    root = _rootfs("devs")
    assert not (root / "dev" / "sda").exists() and not (root / "dev" / "fifo").exists()
    assert oct(os.stat(root / "bin" / "su").st_mode & 0o7777) == "0o4755"
    assert os.readlink(root / "link") == "/etc/passwd"  # created, never followed
    assert os.stat(root / "hard").st_ino == os.stat(root / "bin" / "su").st_ino
    mp("image", "rm", "devs")


def test_not_a_tar_truncated_and_empty(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    assert "not a readable tar archive" in mp("image", "import", junk, "junk", check=False).stderr
    good = _tar(tmp_path / "good.tar.gz", [("f", F, os.urandom(200000), 0o644)], mode="w:gz")
    truncated = tmp_path / "trunc.tar.gz"
    truncated.write_bytes(good.read_bytes()[:5000])
    proc = mp("image", "import", truncated, "trunc", check=False)
    assert proc.returncode == 125 and "truncated" in proc.stderr
    assert sorted(os.listdir(IMAGES)) == BUSYBOX_ONLY


def test_empty_archive_is_refused(tmp_path):
    empty = _tar(tmp_path / "empty.tar", [])
    proc = mp("image", "import", empty, "empty", check=False)
    assert proc.returncode == 125 and "empty archive" in proc.stderr
    assert sorted(os.listdir(IMAGES)) == BUSYBOX_ONLY


def test_huge_number_of_entries_is_capped(tmp_path):
    entries = [(f"f{i}", F, "", 0o644) for i in range(60)]
    archive = _tar(tmp_path / "many.tar", entries)
    proc = mp("image", "import", archive, "many", check=False, env={"MINIPOD_IMAGE_MAX_ENTRIES": "50"})
    assert proc.returncode == 125 and "more than 50 entries" in proc.stderr
    assert sorted(os.listdir(IMAGES)) == BUSYBOX_ONLY


def test_import_ls_rm_and_in_use(tmp_path):
    archive = _tar(tmp_path / "mini.tar.xz", [("bin", D, None, 0o755)], mode="w:xz")
    mp("image", "import", archive, "mini")
    assert mp("image", "import", archive, "mini", check=False).returncode == 125  # exists
    assert [l.split()[0] for l in mp("image", "ls").stdout.splitlines()[1:]] == ["busybox", "mini"]
    mp("run", "-d", "--name", "user", "--network", "none", "busybox", "sleep", "60")
    assert "used by running container 'user'" in mp("image", "rm", "-f", "busybox", check=False).stderr
    mp("stop", "-t", "0", "user")
    assert "use -f" in mp("image", "rm", "busybox", check=False).stderr
    mp("image", "rm", "mini")
    assert not (IMAGES / "mini").exists()
    assert mp("image", "rm", "mini", check=False).returncode == 125


def test_full_references_tag_and_untag(tmp_path):
    """Images are named by references as docker names them: `busybox` is
    docker.io/library/busybox:latest; a registry's name is kept whole; `image
    tag` adds a name, `image rm` of one of several only untags it."""
    archive = _tar(tmp_path / "ref.tar", [("bin", D, None, 0o755), ("hello", F, "ref\n", 0o644)])
    e2e = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
    assert mp("image", "import", archive, e2e).stdout == e2e + "\n"
    mp("image", "tag", e2e, "localhost:5000/mine:v1")
    rows = [l.split()[:3] for l in mp("image", "ls").stdout.splitlines()[1:]]
    assert ["registry.k8s.io/e2e-test-images/busybox", "1.29-2"] == rows[2][:2] and \
        ["localhost:5000/mine", "v1"] == rows[1][:2] and rows[1][2] == rows[2][2], rows  # one image, two names
    assert rows[0][:2] == ["busybox", "latest"]
    assert mp_json("image", "inspect", "localhost:5000/mine:v1")[0]["RepoTags"] == [e2e, "localhost:5000/mine:v1"]
    # a short name and its normal form are the same image; a pod names it so too
    assert mp("run", "--rm", "docker.io/library/busybox:latest", "true").returncode == 0
    assert mp("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo ok").stdout == "ok\n"
    assert mp("image", "rm", "localhost:5000/mine:v1").stdout == "Untagged: localhost:5000/mine:v1\n"
    out = mp("image", "rm", e2e).stdout
    assert out.startswith(f"Untagged: {e2e}\nDeleted: sha256:") and len(out.splitlines()) == 2
    assert sorted(os.listdir(IMAGES)) == BUSYBOX_ONLY
    # a pod's image: is a reference too, looked up locally (nothing is pulled for an image that is here)
    mp("image", "tag", "busybox", e2e)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "refd"},
           "spec": {"terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": e2e, "command": ["sleep", "3600"]}]}}
    mp("apply", "-f", "-", input=json.dumps(pod))
    mp("wait", "--for=condition=Ready", "pod/refd", "--timeout", "60")
    assert f'Container image "{e2e}" already present on machine' in mp("describe", "pod", "refd").stdout
    mp("delete", "pod", "refd")
    assert mp("image", "rm", e2e).stdout == f"Untagged: {e2e}\n"  # busybox still names it
    proc = mp("image", "import", archive, "Not/A:Reference", check=False)
    assert proc.returncode == 125 and "must be lowercase" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert sorted(os.listdir(IMAGES)) == BUSYBOX_ONLY
