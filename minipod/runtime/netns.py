"""Pin and unpin a pod's network namespace at /run/netns/<name>.

A bind mount of /proc/PID/ns/net keeps the namespace alive after its pause
process dies, so CNI DEL can always run against it, and makes
`ip netns exec <name> ...` work as in any networking tutorial.
"""

import contextlib
import os
from pathlib import Path

from minipod.errors import MinipodError
from minipod.paths import netns_dir, netns_prefix
from minipod.runtime import syscalls


def pin_name(pod_name: str) -> str:
    return f"{netns_prefix()}{pod_name}"


def pin_path(pod_name: str) -> Path:
    return netns_dir() / pin_name(pod_name)


def _ensure_shared_dir(directory: Path) -> None:
    """Make the pin directory a shared mount point, as iproute2 does, so an
    unmount here propagates into mount namespaces that copied it (otherwise
    a copy would keep the namespace alive)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        syscalls.mount(None, str(directory), None, syscalls.MS_SHARED | syscalls.MS_REC)
        return
    except OSError as e:
        if e.errno != 22:  # EINVAL: not a mount point yet
            raise
    syscalls.mount(str(directory), str(directory), None, syscalls.MS_BIND | syscalls.MS_REC)
    syscalls.mount(None, str(directory), None, syscalls.MS_SHARED | syscalls.MS_REC)


def pin(pod_name: str, pid: int) -> Path:
    """Bind-mount the netns of ``pid`` at the pod's pin path."""
    return _bind(f"/proc/{pid}/ns/net", pin_path(pod_name))


def repin(path: Path, new_name: str) -> Path:
    """Pin the namespace pinned at ``path`` under ``new_name`` instead (the
    old name is free when this returns)."""
    new = _bind(str(path), pin_path(new_name))
    unpin(path)
    return new


def _bind(source: str, path: Path) -> Path:
    _ensure_shared_dir(path.parent)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)
    except FileExistsError:
        raise MinipodError(f"{path} already exists (left by a crash? `minipod gc` removes it)") from None
    os.close(fd)
    try:
        syscalls.mount(source, str(path), None, syscalls.MS_BIND)
    except BaseException:
        os.unlink(path)
        raise
    return path


def unpin(path: Path) -> None:
    """Unmount and remove a pin; idempotent."""
    path = Path(path)
    with contextlib.suppress(OSError):
        syscalls.umount2(str(path), syscalls.MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def list_pins() -> list:
    """Our pins (by prefix) present in the netns directory."""
    try:
        return sorted(p for p in netns_dir().iterdir() if p.name.startswith(netns_prefix()))
    except FileNotFoundError:
        return []
