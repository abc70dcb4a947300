"""Named volumes (`minipod volume create|ls|inspect|rm`): directories
under <lib root>/volumes/<name>/_data that outlive the containers using
them, as docker's "local" driver keeps them."""

import time

from minipod import fsutil, names, paths, state
from minipod.errors import AlreadyExists, InUse, NotFound


def root():
    return paths.lib_root() / "volumes"


def _meta_path(name):
    return root() / name / "volume.json"


def data_path(name: str) -> str:
    """The host directory of volume ``name`` (NotFound if it does not exist)."""
    names.validate_name(name, "volume name")
    if not _meta_path(name).exists():
        raise NotFound(f"no such volume: {name}")
    return str(root() / name / "_data")


def create(name=None, labels=None, exist_ok=True) -> dict:
    """Create a volume (a name is generated when none is given)."""
    name = names.validate_name(name, "volume name") if name else names.new_id()
    with state.global_lock():
        if _meta_path(name).exists():
            if not exist_ok:
                raise AlreadyExists(f"volume {name!r} already exists")
            return inspect(name)
        (root() / name / "_data").mkdir(parents=True, exist_ok=True)
        state.write_json(_meta_path(name), {"Name": name, "Labels": dict(labels or {}),
                                            "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return inspect(name)


def inspect(name: str) -> dict:
    """docker's `volume inspect` fields."""
    data_path(name)
    meta = state.read_json(_meta_path(name))
    return {"Name": name, "Driver": "local", "Mountpoint": str(root() / name / "_data"),
            "CreatedAt": meta.get("CreatedAt"), "Labels": meta.get("Labels", {}), "Scope": "local",
            "Options": {}}


def list_volumes() -> list:
    if not root().is_dir():
        return []
    return [inspect(d.name) for d in sorted(root().iterdir()) if (d / "volume.json").exists()]


def users(name: str) -> list:
    """Names of containers (running or not) whose mounts use the volume."""
    recs = state.Store(paths.containers_dir(), "container").all()
    return [r["name"] for r in recs
            if any(m.get("type") == "volume" and m.get("source") == name for m in r.get("mounts", []))]


def remove(name: str, force: bool = False) -> None:
    """Remove a volume and its data; refused while a container uses it
    (docker refuses even for stopped containers, and so does -f)."""
    data_path(name)
    with state.global_lock():
        using = users(name)
        if using:
            raise InUse(f"volume {name} is in use by container(s) {', '.join(using)}")
        fsutil.rmtree(root() / name)
