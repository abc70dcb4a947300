"""Thin ctypes wrappers for the namespace and mount syscalls that Python 3.11
lacks (os.setns/os.unshare arrived in 3.12). Errors raise OSError with errno."""

import ctypes
import errno
import os

# The interpreter is linked against libc already: no ctypes.util lookup
# (it imports subprocess and tempfile, ~12 ms that pause would pay).
_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

MNT_DETACH = 2

NS_FLAGS = {"net": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS,
            "pid": CLONE_NEWPID, "mnt": CLONE_NEWNS}

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "armv7l": 218, "riscv64": 41,
                   "ppc64le": 203, "s390x": 217}


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def setns_path(path: str, nstype: int = 0) -> None:
    """Join the namespace that ``path`` (e.g. /proc/PID/ns/net) refers to."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, nstype)
    finally:
        os.close(fd)


def mount(source, target, fstype, flags=0, data=None) -> None:
    def enc(v):
        return None if v is None else os.fsencode(v)
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def umount2(target, flags=0) -> None:
    _check(_libc.umount2(os.fsencode(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root, put_old) -> None:
    machine = os.uname().machine
    number = _SYS_PIVOT_ROOT.get(machine)
    if number is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {machine}")
    _check(_libc.syscall(ctypes.c_long(number), os.fsencode(new_root), os.fsencode(put_old)),
           "pivot_root")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


# openat2(2) (Linux 5.6): resolve a path as if ``dirfd`` were "/", so
# neither "..", an absolute symlink nor a "/proc/self/root" magic link can
# lead out of it (how runc resolves mount targets since CVE-2021-30465).
_SYS_OPENAT2 = 437  # the same number on every architecture (unified table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


OPENAT2_TRIES = 100  # EAGAIN: a mount or rename anywhere on the host raced the walk (openat2(2) says: try again)


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH | os.O_CLOEXEC) -> int:
    """An fd for ``path`` resolved inside the tree of ``root_fd``."""
    how = _OpenHow(flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    for _ in range(OPENAT2_TRIES):
        fd = _libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(root_fd), os.fsencode(path),
                           ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err != errno.EAGAIN:
            break
    raise OSError(err, f"{path}: {os.strerror(err)}")


_SYS_CLOSE_RANGE = 436  # the same number on every architecture (added in Linux 5.9)
CLOSE_RANGE_CLOEXEC = 4  # Linux 5.11


def close_on_exec_from(low: int = 3) -> None:
    """Mark every descriptor from ``low`` up close-on-exec: what a process
    execs (a container's command, pause) keeps only 0-2 and what it dup2'd
    below ``low`` — never a descriptor it inherited by accident (a client's
    stdout that the node process held while it forked: a caller reading
    that pipe would wait for its end as long as the container runs).
    Descriptors it still needs before the exec (a sync socket) stay usable."""
    if _libc.syscall(_SYS_CLOSE_RANGE, low, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC) == 0:
        return
    for name in os.listdir("/proc/self/fd"):  # an older kernel: one by one
        fd = int(name)
        if fd >= low:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # listdir's own descriptor, closed already


def close_from(low: int) -> None:
    """Close every descriptor from ``low`` up (a process that outlives its
    caller keeps none of the caller's), whatever the open-files limit."""
    if _libc.syscall(_SYS_CLOSE_RANGE, low, 0xFFFFFFFF, 0) == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        if int(name) >= low:
            try:
                os.close(int(name))
            except OSError:
                pass
