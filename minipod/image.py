"""Images: rootfs tarballs unpacked into read-only directories.

An image is images/<name>/ with rootfs/ (the overlay lowerdir every
container of it shares, never written) and record.json. Imports unpack into
a temporary directory and are renamed into place only when complete, so a
failed import leaves nothing behind.
"""

import os
import time
from pathlib import Path

from minipod import fsutil, names, paths, state
from minipod.errors import AlreadyExists, InUse, InvalidArgument, NotFound


def normalize(ref: str) -> str:
    """'busybox:latest' and 'busybox' are the same image."""
    return ref[:-len(":latest")] if ref.endswith(":latest") else ref


def _store():
    return state.Store(paths.images_dir(), "image")


def load(ref: str) -> dict:
    """The record of image ``ref``; NotFound if absent."""
    name = normalize(ref)
    names.validate_name(name, "image name")
    record = _store().load(name)
    if record is None:
        raise NotFound(f"no such image: {ref} (import one with `minipod image import FILE {name}`)")
    return record


def rootfs(record: dict) -> Path:
    return paths.images_dir() / record["name"] / "rootfs"


def list_images() -> list:
    return _store().all()


def _sha256(path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def import_archive(archive: str, ref: str, warn=lambda m: None, progress=None) -> dict:
    """Unpack ``archive`` as image ``ref``. Nothing remains if it fails."""
    from minipod import tarsafe  # tarfile and friends: only imports need them
    name = normalize(ref)
    names.validate_name(name, "image name")
    if not os.path.isfile(archive):
        what = "not a regular file" if os.path.exists(archive) else "no such file"
        raise InvalidArgument(f"cannot import {archive!r}: {what}")
    images = paths.images_dir()
    images.mkdir(parents=True, exist_ok=True)
    if (images / name).exists():
        raise AlreadyExists(f"image {name!r} already exists (remove it with `minipod image rm {name}`)")
    tmp = images / f".import-{name}-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        (tmp / "rootfs").mkdir(parents=True, mode=0o755)
        entries = tarsafe.extract(archive, str(tmp / "rootfs"), warn=warn, progress=progress)
        record = {"id": name, "name": name, "digest": "sha256:" + _sha256(archive),
                  "created": time.time(), "source": os.path.abspath(archive),
                  "entries": entries, "size": fsutil.disk_usage(tmp / "rootfs")}
        state.write_json(tmp / state.RECORD, record)
        with state.global_lock():
            if (images / name).exists():
                raise AlreadyExists(f"image {name!r} already exists")
            os.rename(tmp, images / name)
        return record
    finally:
        if tmp.exists():
            fsutil.rmtree(tmp, ignore_errors=True)


def remove(ref: str, force: bool, users: list) -> None:
    """Remove an image. ``users`` are the container records that use it:
    any user refuses without ``force``; a running user refuses always."""
    record = load(ref)
    running = [u for u in users if u["status"] == "running"]
    if running:
        raise InUse(f"image {record['name']!r} is used by running container {running[0]['name']!r}")
    if users and not force:
        raise InUse(f"image {record['name']!r} is used by container {users[0]['name']!r} (use -f to remove anyway)")
    d = paths.images_dir() / record["name"]
    trash = d.with_name(f".rm-{record['name']}-{os.urandom(4).hex()}")
    os.rename(d, trash)  # atomic: the image is gone at once, deletion follows
    fsutil.rmtree(trash, ignore_errors=True)
