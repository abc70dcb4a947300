"""An image's configuration (OCI image config / docker's container config):
what it says, and docker's rules for combining it with `run`'s arguments.
Pure: no file system, no root."""

import hashlib

from minipod.errors import InvalidArgument

# The fields of config.config that minipod honours, as docker names them.
FIELDS = ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "StopSignal")


def from_image_config(doc: dict) -> dict:
    """The honoured fields of an image config document (OCI or docker),
    checked for type; absent ones are left out."""
    if not isinstance(doc, dict):
        raise InvalidArgument("image config is not a JSON object")
    cfg = doc.get("config") or doc.get("container_config") or {}
    if not isinstance(cfg, dict):
        raise InvalidArgument("image config: config is not an object")
    out = {}
    for key in FIELDS:
        value = cfg.get(key)
        if value in (None, "", [], {}):
            continue
        if key in ("Entrypoint", "Cmd", "Env"):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidArgument(f"image config: {key} must be a list of strings")
        elif key in ("ExposedPorts", "Labels"):
            if not isinstance(value, dict):
                raise InvalidArgument(f"image config: {key} must be an object")
        elif not isinstance(value, str):
            raise InvalidArgument(f"image config: {key} must be a string")
        out[key] = value
    return out


def diff_ids(doc: dict) -> list:
    """rootfs.diff_ids of an image config: the uncompressed layer digests."""
    rootfs = doc.get("rootfs") if isinstance(doc, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i.startswith("sha256:") for i in ids):
        raise InvalidArgument("image config: rootfs.diff_ids is missing or malformed")
    return ids


def chain_ids(ids: list) -> list:
    """OCI ChainIDs: the first layer's diff_id, then sha256("<parent chain>
    <diff_id>"): a layer applied on the same parents is the same snapshot."""
    out = []
    for diff in ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def command(cfg: dict, entrypoint=None, cmd=()) -> list:
    """docker's rules: --entrypoint replaces the image's Entrypoint and
    drops its Cmd; arguments after the image replace Cmd; the result is
    Entrypoint + Cmd. With neither, `sh` (minipod's images are busybox-based)."""
    if entrypoint is not None:
        ep = [entrypoint] if entrypoint else []
        args = list(cmd)
    else:
        ep = list(cfg.get("Entrypoint") or [])
        args = list(cmd) or list(cfg.get("Cmd") or [])
    return ep + args or ["sh"]


def env(cfg: dict) -> dict:
    """The image's Env as a dict (later entries win, as in docker)."""
    out = {}
    for item in cfg.get("Env") or []:
        key, sep, value = item.partition("=")
        if sep and key:
            out[key] = value
    return out


def _entries(text: str, fields: int):
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= fields:
            yield parts


def parse_passwd(text: str, name: str):
    """(uid, gid) of user ``name`` in an /etc/passwd text, or None."""
    for f in _entries(text, 4):
        if f[0] == name and f[2].isdigit() and f[3].isdigit():
            return int(f[2]), int(f[3])
    return None


def parse_group(text: str, name: str):
    """The gid of group ``name`` in an /etc/group text, or None."""
    for f in _entries(text, 3):
        if f[0] == name and f[2].isdigit():
            return int(f[2])
    return None


def member_groups(uid: int, passwd: str, group: str) -> list:
    """The gids of the groups of /etc/group that list the user whose uid is
    ``uid`` (by its name in /etc/passwd) as a member: its supplementary groups."""
    names = {f[0] for f in _entries(passwd, 4) if f[2] == str(uid)}
    return sorted({int(f[2]) for f in _entries(group, 4) if f[2].isdigit()
                   and names & set(f[3].split(","))})


def resolve_user(spec_text: str, passwd: str, group: str):
    """An image's User ("uid", "uid:gid", "name" or "name:group") as
    (uid, gid), names looked up in the image's own passwd and group texts;
    a bare uid gets its primary group when the image lists it (docker's way)."""
    user, _, grp = spec_text.partition(":")
    if user.isdigit():
        uid = gid = int(user)
        for f in _entries(passwd, 4):
            if f[2] == user and f[3].isdigit():
                gid = int(f[3])
                break
    else:
        found = parse_passwd(passwd, user)
        if found is None:
            raise InvalidArgument(f"user {spec_text!r}: {user!r} is not in the image's /etc/passwd")
        uid, gid = found
    if grp:
        gid = int(grp) if grp.isdigit() else parse_group(group, grp)
        if gid is None:
            raise InvalidArgument(f"user {spec_text!r}: {grp!r} is not in the image's /etc/group")
    return uid, gid
