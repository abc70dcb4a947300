"""Build a container's root filesystem inside its own mount namespace.

Runs in the container's first process, after unshare(CLONE_NEWNS): the
overlay, /proc, /dev, /sys and the masks exist only in that namespace, so
they vanish with the container's last process and can never leak on the
host. Follows the OCI runtime-spec defaults (runc's, crun's).
"""

import os
import stat

from minipod.runtime import syscalls as sc
from minipod.runtime import volumes

# OCI default masks (runc/containerd): hidden behind /dev/null or an empty
# read-only tmpfs.
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# (name, mode, major, minor): the standard nodes of an OCI container.
DEVICES = (("null", 0o666, 1, 3), ("zero", 0o666, 1, 5), ("full", 0o666, 1, 7),
           ("random", 0o666, 1, 8), ("urandom", 0o666, 1, 9), ("tty", 0o666, 5, 0))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
             ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))

NOSUID_NODEV_NOEXEC = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def _mkdir(path):
    os.makedirs(path, mode=0o755, exist_ok=True)


def _mount_dev(dev, extra=()):
    """/dev: a tmpfs with the standard nodes and ``extra`` ones (path in the
    container, "c" or "b", major, minor, mode: host devices given to it)."""
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID, "mode=755,size=65536k")
    nodes = [(f"{dev}/{name}", "c", major, minor, mode) for name, mode, major, minor in DEVICES]
    nodes += [(dev + path[len("/dev"):], kind, major, minor, mode) for path, kind, major, minor, mode in extra]
    for path, kind, major, minor, mode in nodes:
        _mkdir(os.path.dirname(path))
        if os.path.lexists(path):
            os.unlink(path)
        os.mknod(path, (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | mode, os.makedev(major, minor))
        os.chmod(path, mode)  # mknod honours the umask
    for name, target in DEV_LINKS:
        os.symlink(target, f"{dev}/{name}")
    _mkdir(f"{dev}/pts")
    sc.mount("devpts", f"{dev}/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5")
    _mkdir(f"{dev}/shm")
    sc.mount("shm", f"{dev}/shm", "tmpfs", NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    _mkdir(f"{dev}/mqueue")
    sc.mount("mqueue", f"{dev}/mqueue", "mqueue", NOSUID_NODEV_NOEXEC)


def _mask(masked=MASKED_PATHS, readonly=READONLY_PATHS):
    """After pivot_root (as runc does), so that a path of the image that is a
    symbolic link resolves inside the container, never on the host."""
    for path in masked:
        if os.path.isdir(path):
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY | NOSUID_NODEV_NOEXEC, "size=0")
        elif os.path.exists(path):
            sc.mount("/dev/null", path, None, sc.MS_BIND)
    for path in readonly:
        if os.path.exists(path):
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
                     | NOSUID_NODEV_NOEXEC)


STAGING = "/dev/.etc"


def _stage_files(root, etc_files):
    """Bind the pod-level files (hosts, hostname, resolv.conf) into a staging
    dir on our own /dev tmpfs: a path no image can plant symlinks in."""
    staged = {}
    os.mkdir(root + STAGING, 0o700)
    for i, (target, source) in enumerate(sorted(etc_files.items())):
        stage = f"{STAGING}/{i}"
        open(root + stage, "w").close()
        sc.mount(source, root + stage, None, sc.MS_BIND)
        staged[target] = stage
    return staged


def _bind_staged(staged):
    """After pivot_root, move staged files over the image's: the targets now
    resolve inside the container, even through the image's symlinks."""
    for target, stage in staged.items():
        if os.path.islink(target):
            os.unlink(target)
        if not os.path.exists(target):
            _mkdir(os.path.dirname(target))
            open(target, "a").close()
        sc.mount(stage, target, None, sc.MS_BIND)
        sc.umount2(stage, sc.MNT_DETACH)
        os.unlink(stage)
    if staged:
        os.rmdir(STAGING)


def setup(spec: dict) -> None:
    """Mount the container's rootfs at spec['merged'] and pivot_root into it.

    spec keys: lower, upper, work, merged (paths), etc_files ({path in
    container: host source file}), mounts (volumes; see volumes.mount_all);
    optional: masked and readonly_paths (lists replacing the OCI defaults;
    empty lists: none, as for a privileged container), readonly (the root
    filesystem mounted read-only, as docker's --read-only: /dev, volumes
    and the pod's /etc files stay as they are).
    """
    # Nothing we mount below may propagate back to the host.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    root = spec["merged"]
    # nodev: a second wall behind the device cgroup, so a device node a container
    # makes with CAP_MKNOD (e.g. the host's disk) must be useless to it.
    sc.mount("overlay", root, "overlay", sc.MS_NODEV,
             f"lowerdir={spec['lower']},upperdir={spec['upper']},workdir={spec['work']}")
    for d in ("proc", "dev", "sys"):
        # A planted symlink would make us mount over a host path.
        if os.path.islink(f"{root}/{d}"):
            raise OSError(f"image has /{d} as a symbolic link")
        _mkdir(f"{root}/{d}")
    # A fresh procfs of the pod's PID namespace (we are a process in it).
    sc.mount("proc", f"{root}/proc", "proc", NOSUID_NODEV_NOEXEC)
    _mount_dev(f"{root}/dev", spec.get("devices", ()))
    sc.mount("sysfs", f"{root}/sys", "sysfs", sc.MS_RDONLY | NOSUID_NODEV_NOEXEC)
    volumes.mount_all(root, spec.get("mounts", []))
    staged = _stage_files(root, spec.get("etc_files", {}))
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")
    _mask(spec.get("masked", MASKED_PATHS), spec.get("readonly_paths", READONLY_PATHS))
    _bind_staged(staged)
    # /dev is the one place device nodes work; read-only, no new ones appear.
    sc.mount(None, "/dev", None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID, "mode=755,size=65536k")
    if spec.get("readonly"):
        sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NODEV)
