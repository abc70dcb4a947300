"""Cgroups for pods and containers, on cgroup v1 ("hybrid" included) and v2.

The kubelet's shape, one directory per level in every hierarchy used:

    <parent>/                      minipod (MINIPOD_CGROUP_PARENT moves it)
      pod-<pod id>/                the pod's limits (podman's --pod parent)
        pause/                     the pause process
        ctr-<container id>/        one app container, its own limits

pause sits in a leaf of its own, not in the pod directory itself, because
cgroup v2 lets no process live in a cgroup whose children have controllers
enabled ("no internal processes", cgroup-v2.rst); the kubelet does the same
with the pause container. The hierarchy is chosen at run time: a
``cgroup.controllers`` file at /sys/fs/cgroup means unified (v2).

Processes join by writing "0" (the writer) to cgroup.procs before they
exec, so nothing they run ever starts outside its limits.
"""

import os

from minipod.errors import InvalidArgument, MinipodError
from minipod.runtime.cgroup.files import CGROUP_ROOT



def version() -> int:
    """2 on a unified hierarchy, else 1 (v1 controllers, maybe hybrid)."""
    return 2 if os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers") else 1


def parent() -> str:
    name = os.environ.get("MINIPOD_CGROUP_PARENT", "minipod").strip("/")
    if not name or ".." in name.split("/"):
        raise InvalidArgument(f"invalid MINIPOD_CGROUP_PARENT {name!r}")
    return name


def pod_path(pod_id: str, under: str = None) -> str:
    """The pod's cgroup: under minipod's parent, or ``under`` (a cgroupfs
    path the kubelet gives a sandbox: its pod-level cgroup, /kubepods/...)."""
    if under:
        under = under.strip("/")
        if not under or ".." in under.split("/"):
            raise InvalidArgument(f"invalid cgroup parent {under!r}")
        return f"{under}/pod-{pod_id}"
    return f"{parent()}/pod-{pod_id}"


def pause_path(pod_id: str) -> str:
    return f"{pod_path(pod_id)}/pause"


def container_path(pod_id: str, ctr_id: str) -> str:
    return f"{pod_path(pod_id)}/ctr-{ctr_id}"


def driver():
    """The module that speaks this host's hierarchy (v1 or v2)."""
    if version() == 2:
        from minipod.runtime.cgroup import v2 as mod
    else:
        from minipod.runtime.cgroup import v1 as mod
    return mod


def create(path: str, limits=None, devices: bool = False, extra_devices=()) -> None:
    """Make the cgroup ``path`` (and its parents) and apply ``limits``;
    with ``devices``, the default device allow list (runc's) and
    ``extra_devices`` (devices.Rule: the host devices given to the container)."""
    from minipod.runtime.cgroup import devices as devrules
    rules = devrules.DEFAULT_RULES + tuple(extra_devices) if devices else None
    try:
        driver().create(path, limits, rules)
    except BaseException as e:
        try:
            driver().remove(path)  # nothing half-made stays
        except OSError:
            pass
        if isinstance(e, OSError):
            raise MinipodError(f"cannot set up cgroup {path}: {e.strerror or e}") from e
        raise


def update(path: str, limits) -> None:
    """Apply the limits ``limits`` sets to an existing cgroup (the CRI's UpdateContainerResources)."""
    try:
        driver().update(path, limits)
    except OSError as e:
        raise MinipodError(f"cannot update cgroup {path}: {e.strerror or e}") from e


def join(path: str) -> None:
    """Move the calling process into ``path`` (in every hierarchy used)."""
    driver().join(path)


def remove(path: str) -> None:
    """Remove ``path`` and everything below it; processes still inside are
    killed first (a cgroup with tasks cannot be removed). Absent: no-op."""
    driver().remove(path)


def list_pods() -> list:
    """Pod ids that have a cgroup under this parent (for gc)."""
    return [name[4:] for name in driver().children(parent()) if name.startswith("pod-")]


def oom_kills(path: str) -> int:
    """How many processes of ``path`` the OOM killer has killed (0 if gone)."""
    try:
        return driver().oom_kills(path)
    except OSError:
        return 0


def stats(path: str) -> dict:
    """cpu_ns (usage so far), memory (bytes, without reclaimable page
    cache, as docker shows it), memory_limit (None if unlimited), pids."""
    return driver().stats(path)
