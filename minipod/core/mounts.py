"""docker's volume flags, parsed and checked on the host before anything
is made: ``-v``, ``--mount`` and ``--tmpfs``.

A mount is a plain dict, stored in the container's record so that a
restart mounts the same things:
    {"type": "bind"|"volume"|"tmpfs", "source": host path or volume name,
     "target": path in the container, "readonly": bool,
     "subpath": path inside the source or None, "options": tmpfs options}
"""

import os
import posixpath
import re

from minipod import names
from minipod.errors import InvalidArgument, NotFound

_TMPFS_OPT_RE = re.compile(r"(ro|rw|exec|noexec|suid|nosuid|dev|nodev|size=\d+[kmg%]?|mode=[0-7]{3,4}"
                           r"|nr_inodes=\d+[kmg]?)")


def _target(text, flag) -> str:
    if not text or not text.startswith("/") or "\0" in text:
        raise InvalidArgument(f"invalid {flag} {text!r}: the container path must be absolute")
    norm = posixpath.normpath(text)
    if norm == "/":
        raise InvalidArgument(f"invalid {flag} {text!r}: cannot mount over the container's /")
    return norm


def _source(text, flag) -> tuple:
    """("bind", absolute host path) or ("volume", volume name)."""
    if text.startswith("/"):
        if "\0" in text:
            raise InvalidArgument(f"invalid {flag} source {text!r}")
        return "bind", posixpath.normpath(text)
    try:
        return "volume", names.validate_name(text, "volume name")
    except InvalidArgument:
        raise InvalidArgument(f"invalid {flag} source {text!r}: an absolute host path or a volume "
                              "name ([A-Za-z0-9][A-Za-z0-9_.-]*)") from None


def parse_volume(text: str) -> dict:
    """``-v SOURCE:TARGET[:ro|rw]`` (SOURCE a host path or a volume name),
    or ``-v TARGET`` for an anonymous volume (refused: nothing would name it)."""
    parts = str(text).split(":")
    mode = "rw"
    if len(parts) == 3:
        mode = parts.pop()
    if len(parts) != 2 or mode not in ("ro", "rw"):
        raise InvalidArgument(f"invalid -v {text!r}: expected SOURCE:TARGET[:ro]")
    kind, source = _source(parts[0], "-v")
    return {"type": kind, "source": source, "target": _target(parts[1], "-v"),
            "readonly": mode == "ro", "subpath": None, "options": ""}


def parse_mount(text: str) -> dict:
    """``--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]``."""
    fields, flags = {}, set()
    for item in str(text).split(","):
        key, sep, value = item.partition("=")
        key = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(key, key)
        if key not in ("type", "source", "target", "readonly", "tmpfs-size", "tmpfs-mode", "volume-subpath"):
            raise InvalidArgument(f"invalid --mount {text!r}: unknown field {key!r}")
        if key == "readonly":
            if value not in ("", "true", "1", "false", "0"):
                raise InvalidArgument(f"invalid --mount {text!r}: readonly takes true or false")
            if value in ("", "true", "1"):
                flags.add("readonly")
            continue
        if not sep or key in fields:
            raise InvalidArgument(f"invalid --mount {text!r}: {key} needs one value")
        fields[key] = value
    kind = fields.get("type", "volume")
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"invalid --mount {text!r}: type must be bind, volume or tmpfs")
    target = _target(fields.get("target", ""), "--mount")
    if kind == "tmpfs":
        if "source" in fields:
            raise InvalidArgument(f"invalid --mount {text!r}: a tmpfs has no source")
        opts = []
        if "tmpfs-size" in fields:
            from minipod.spec import parse_size
            opts.append(f"size={parse_size(fields['tmpfs-size'], 'tmpfs-size')}")
        if "tmpfs-mode" in fields:
            if not re.fullmatch(r"[0-7]{3,4}", fields["tmpfs-mode"]):
                raise InvalidArgument(f"invalid --mount {text!r}: tmpfs-mode must be octal, e.g. 1777")
            opts.append(f"mode={fields['tmpfs-mode']}")
        return {"type": "tmpfs", "source": None, "target": target, "readonly": "readonly" in flags,
                "subpath": None, "options": ",".join(opts)}
    if "source" not in fields:
        raise InvalidArgument(f"invalid --mount {text!r}: source is required for type={kind}")
    src_kind, source = _source(fields["source"], "--mount")
    if src_kind != kind:
        raise InvalidArgument(f"invalid --mount {text!r}: type={kind} needs "
                              + ("an absolute host path" if kind == "bind" else "a volume name"))
    sub = fields.get("volume-subpath")
    if sub is not None and (kind != "volume" or not sub or sub.startswith("/")):
        raise InvalidArgument(f"invalid --mount {text!r}: volume-subpath is a relative path in a volume")
    return {"type": kind, "source": source, "target": target, "readonly": "readonly" in flags,
            "subpath": sub, "options": ""}


def parse_tmpfs(text: str) -> dict:
    """``--tmpfs TARGET[:OPTIONS]`` (docker's defaults: noexec,nosuid,nodev)."""
    target, _, options = str(text).partition(":")
    for opt in filter(None, options.split(",")):
        if not _TMPFS_OPT_RE.fullmatch(opt):
            raise InvalidArgument(f"invalid --tmpfs {text!r}: unknown option {opt!r}")
    return {"type": "tmpfs", "source": None, "target": _target(target, "--tmpfs"),
            "readonly": False, "subpath": None, "options": options}


def parse_all(volumes=(), mounts=(), tmpfs=()) -> list:
    """Every mount flag of `run`; two mounts on one target are refused."""
    out = [parse_volume(v) for v in volumes] + [parse_mount(m) for m in mounts] + \
          [parse_tmpfs(t) for t in tmpfs]
    seen = set()
    for m in out:
        if m["target"] in seen:
            raise InvalidArgument(f"duplicate mount point: {m['target']}")
        seen.add(m["target"])
    return out


def resolve(mounts: list) -> list:
    """Check sources on the host and give each mount its host path
    ("host_source"); named volumes that do not exist yet are created (as
    docker does). A missing bind source is refused: nothing is made."""
    from minipod.core import volumes
    out = []
    for m in mounts:
        m = dict(m)
        if m["type"] == "bind":
            if not os.path.exists(m["source"]):
                raise InvalidArgument(f"bind source path does not exist: {m['source']}")
            m["host_source"] = m["source"]
        elif m["type"] == "volume":
            try:
                m["host_source"] = volumes.data_path(m["source"])
            except NotFound:
                m["host_source"] = volumes.create(m["source"])["Mountpoint"]
        out.append(m)
    return out


def for_runtime(mounts: list) -> list:
    """What the container's setup needs: host paths only."""
    return [{"type": "tmpfs" if m["type"] == "tmpfs" else "bind", "source": m.get("host_source"),
             "target": m["target"], "readonly": m["readonly"], "subpath": m.get("subpath"),
             "options": m.get("options", "")} for m in mounts]
