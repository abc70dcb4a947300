"""Reading and writing cgroupfs, the same on v1 and v2: the root, one
control file written (a refused value is the user's to fix), a value read,
a key of a flat-keyed file (memory.stat), a tree removed."""

import errno
import os
import signal
import time

from minipod.errors import InvalidArgument

CGROUP_ROOT = "/sys/fs/cgroup"


def write(path: str, value: str) -> None:
    """Write one control file; a refused value is the user's to fix."""
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.EBUSY, errno.ERANGE):
            raise InvalidArgument(f"the kernel refused {value!r} for {os.path.basename(path)}: "
                                  f"{e.strerror}") from None
        raise


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def stat_field(text: str, key: str) -> int:
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return 0


def remove_tree(top: str) -> None:
    """Kill what is left in ``top`` and below, then rmdir bottom-up."""
    if not os.path.isdir(top):
        return
    for root, dirs, _files in os.walk(top, topdown=False):
        _kill_procs(root)
        _rmdir(root)


def _kill_procs(d: str) -> None:
    try:
        with open(f"{d}/cgroup.procs") as f:
            pids = [int(x) for x in f.read().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rmdir(d: str) -> None:
    """rmdir, retried while killed tasks are still exiting (EBUSY)."""
    for _ in range(200):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != 16:  # EBUSY
                raise
            _kill_procs(d)
            time.sleep(0.01)
    os.rmdir(d)
