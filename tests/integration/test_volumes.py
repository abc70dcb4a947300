"""Volumes through the real CLI: bind mounts, named volumes, tmpfs, and
mount targets that an image's symlinks try to lead out of the rootfs."""

import os
import tarfile

import pytest

from tests.conftest import TEST_ROOT
from tests.integration.conftest import mp, mp_json, state_snapshot


def test_bind_mounts_read_write_and_read_only(tmp_path):
    (tmp_path / "in.txt").write_text("from the host\n")
    out = mp("run", "--rm", "-v", f"{tmp_path}:/data", "busybox", "sh", "-c",
             "cat /data/in.txt; echo from the container > /data/out.txt").stdout
    assert out == "from the host\n"
    assert (tmp_path / "out.txt").read_text() == "from the container\n"
    proc = mp("run", "--rm", "-v", f"{tmp_path}/in.txt:/etc/motd:ro", "busybox", "sh", "-c",
              "cat /etc/motd; echo x > /etc/motd", check=False)
    assert proc.stdout == "from the host\n" and "Read-only file system" in proc.stderr and proc.returncode == 1
    assert (tmp_path / "in.txt").read_text() == "from the host\n"


def test_named_volume_outlives_its_container_and_rm_refuses_while_used():
    assert mp("volume", "create", "mpt-data").stdout == "mpt-data\n"
    mp("run", "--name", "writer", "-v", "mpt-data:/var/lib/data", "busybox", "sh", "-c",
       "echo kept > /var/lib/data/file")
    proc = mp("volume", "rm", "mpt-data", check=False)
    assert proc.returncode == 125 and "in use by container(s) writer" in proc.stderr  # even stopped
    mp("rm", "writer")
    out = mp("run", "--rm", "--mount", "type=volume,source=mpt-data,target=/d,readonly", "busybox",
             "cat", "/d/file").stdout
    assert out == "kept\n"
    [info] = mp_json("volume", "inspect", "mpt-data")
    assert info["Driver"] == "local" and os.path.isfile(os.path.join(info["Mountpoint"], "file"))
    assert mp("volume", "ls", "-q").stdout == "mpt-data\n"
    # -v NAME:... creates a volume that does not exist yet, as docker does
    mp("run", "--rm", "-v", "mpt-auto:/a", "busybox", "true")
    assert set(mp("volume", "ls", "-q").stdout.split()) == {"mpt-data", "mpt-auto"}
    mp("volume", "rm", "mpt-data", "mpt-auto")
    assert mp("volume", "ls", "-q").stdout == ""


def test_tmpfs_mounts_with_docker_defaults():
    out = mp("run", "--rm", "--tmpfs", "/scratch:size=1m", "--mount", "type=tmpfs,target=/x,tmpfs-mode=1700",
             "busybox", "sh", "-c", "grep -E ' /(scratch|x) ' /proc/mounts; stat -c %a /x").stdout
    scratch = next(l for l in out.splitlines() if " /scratch " in l)
    assert "tmpfs" in scratch and "noexec" in scratch and "nosuid" in scratch and "size=1024k" in scratch
    assert out.splitlines()[-1] == "1700"


def _evil_image(tmp_path):
    """busybox plus symlinks that point mount targets at / and far above it."""
    src = tarfile.open(TEST_ROOT / "busybox.tar.gz")
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        for name, target in (("evil", "/"), ("up", "../../../../../../.."), ("etcl", "/etc")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            dst.addfile(link)
    mp("image", "import", path, "mpt-evil")


@pytest.mark.parametrize("target", ["/evil/mpt-escaped", "/up/mpt-escaped", "/up/tmp/../mpt-escaped"])
def test_a_symlink_in_the_image_cannot_lead_a_mount_out_of_the_rootfs(tmp_path, target):
    _evil_image(tmp_path)
    try:
        (tmp_path / "marker").write_text("inside\n")
        out = mp("run", "--rm", "-v", f"{tmp_path}:{target}", "mpt-evil", "cat", "/mpt-escaped/marker").stdout
        assert out == "inside\n"  # it landed at the rootfs' /mpt-escaped
        for host in ("/mpt-escaped", "/tmp/mpt-escaped", str(TEST_ROOT / "mpt-escaped")):
            assert not os.path.exists(host)
        with open("/proc/mounts") as f:
            assert "mpt-escaped" not in f.read()
    finally:
        mp("image", "rm", "mpt-evil")


def test_a_subpath_symlink_planted_in_a_volume_stays_in_the_volume():
    """The kubelet's subPath CVE (2017-1002101): a container plants
    `esc -> /` in a shared volume; a later mount of that subPath must get
    the volume's own root, not the host's."""
    mp("run", "--rm", "-v", "mpt-shared:/v", "busybox", "sh", "-c", "echo volume-root > /v/who; ln -s / /v/esc")
    try:
        out = mp("run", "--rm", "--mount", "type=volume,source=mpt-shared,target=/m,volume-subpath=esc",
                 "busybox", "sh", "-c", "cat /m/who; ls /m").stdout
        assert out.splitlines()[0] == "volume-root" and "etc" not in out.split()
    finally:
        mp("volume", "rm", "mpt-shared")


@pytest.mark.parametrize("args,message", [
    (["-v", "/nonexistent-mpt:/x"], "bind source path does not exist: /nonexistent-mpt"),
    (["-v", "/tmp:relative"], "the container path must be absolute"),
    (["-v", "/tmp:/"], "cannot mount over the container's /"),
    (["-v", "/tmp:/x", "--tmpfs", "/x"], "duplicate mount point: /x"),
    (["--mount", "type=bind,src=/nonexistent-mpt,dst=/x"], "bind source path does not exist"),
    (["--mount", "type=nfs,target=/x"], "type must be bind, volume or tmpfs"),
    (["--tmpfs", "/x:uid=0;rm"], "unknown option"),
])
def test_bad_mounts_are_one_line_and_leave_nothing(args, message):
    before = state_snapshot()
    proc = mp("run", "--rm", *args, "busybox", "true", check=False)
    assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert state_snapshot() == before
