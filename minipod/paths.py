"""Where minipod keeps things; every root can be moved by environment.

MINIPOD_ROOT moves everything below one directory (tests use it so they
never touch a user's state); MINIPOD_RUN_ROOT / MINIPOD_LIB_ROOT move the
runtime and the persistent roots separately.
"""

import functools
import os
from pathlib import Path


def _env_path(name, default):
    return _path(os.environ.get(name) or default)


@functools.lru_cache(maxsize=64)
def _path(text: str) -> Path:
    """One Path per distinct text (paths are asked for thousands of times a
    second by the API server; a Path is immutable, so sharing is safe)."""
    return Path(text)


def run_root() -> Path:
    """Runtime state that a reboot may empty: locks, pause exit logs."""
    base = os.environ.get("MINIPOD_ROOT")
    return _env_path("MINIPOD_RUN_ROOT", f"{base}/run" if base else "/run/minipod")


def lib_root() -> Path:
    """Persistent state: images, pod and container records, layers, logs,
    CNI result cache and host-local IP files."""
    base = os.environ.get("MINIPOD_ROOT")
    return _env_path("MINIPOD_LIB_ROOT", f"{base}/lib" if base else "/var/lib/minipod")


def agent_log() -> Path:
    """The node agent's log: its own lines, and the output of what runs
    detached from a command (handoff.detach_stdio)."""
    return lib_root() / "agent.log"


def config_root() -> Path:
    """Configuration minipod writes for its users: the API's certificates
    and the admin kubeconfig (MINIPOD_CONFIG_ROOT; <MINIPOD_ROOT>/etc)."""
    base = os.environ.get("MINIPOD_ROOT")
    return _env_path("MINIPOD_CONFIG_ROOT", f"{base}/etc" if base else "/etc/minipod")


def images_dir() -> Path:
    return lib_root() / "images"


def containers_dir() -> Path:
    return lib_root() / "containers"


def pods_dir() -> Path:
    return lib_root() / "pods"


def removals_dir() -> Path:
    """Records of pods being torn down in the background (minipod.core.removal)."""
    return lib_root() / "pods-removing"


def pod_run_dir(pod_id: str) -> Path:
    return run_root() / "pods" / pod_id


def cni_conf_dir() -> Path:
    """Where network .conflist files live (MINIPOD_CNI_CONF_DIR)."""
    return _env_path("MINIPOD_CNI_CONF_DIR", "/etc/minipod/net.d")


def cni_extra_conf_dirs() -> list:
    """Read-only extra config dirs searched after ours (the system's CNI dir)."""
    if "MINIPOD_CNI_CONF_DIR" in os.environ:
        return []
    return [Path("/etc/cni/net.d")]


def cni_path() -> list:
    """Plugin search path (CNI_PATH semantics)."""
    value = os.environ.get("MINIPOD_CNI_PATH", "/opt/cni/bin:/usr/lib/cni")
    return [Path(p) for p in value.split(":") if p]


def cni_cache_dir() -> Path:
    """Cached ADD results, one file per attachment (libcni's layout)."""
    return lib_root() / "cni" / "results"


def cni_ipam_dir() -> Path:
    """host-local dataDir for the networks minipod writes."""
    return lib_root() / "cni" / "networks"


def netns_dir() -> Path:
    """Pins live where iproute2 looks, so `ip netns exec` works."""
    return _env_path("MINIPOD_NETNS_DIR", "/run/netns")


def netns_prefix() -> str:
    """Prefix of pod netns pin names; tests use their own."""
    return os.environ.get("MINIPOD_NETNS_PREFIX", "minipod-")
