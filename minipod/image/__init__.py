"""Images: layers in a content-addressed store, a config, and a name.

An image is images/<name>/record.json naming its layers (chain ids,
bottom first) in the layer store (image/layers.py) and the honoured fields
of its config (image/config.py). Imports read docker and OCI archives and
plain rootfs tarballs (image/archive.py); a layer already in the store is
not extracted again. A failed import leaves no image and no new layer.
Images imported before the layer store existed keep their rootfs/ and
still work.
"""

import os
import stat
import time

from minipod import names, paths, state
from minipod.errors import AlreadyExists, InUse, InvalidArgument, NotFound
from minipod.image import layers


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
        raise NotFound(f"no such image: {ref} (import one with `minipod image import FILE {name}`, "
                       f"or `minipod pull`)")
    return record


def lowerdirs(record: dict) -> list:
    """The directories an overlay of this image stacks, topmost first."""
    if "layers" not in record:
        return [str(paths.images_dir() / record["name"] / "rootfs")]
    return [str(layers.diff_dir(c)) for c in reversed(record["layers"])]


def find_in_rootfs(record: dict, rel: str):
    """The bytes of regular file ``rel`` as the image's merged rootfs has
    it (topmost layer first; a whiteout or a symlink on the way: None)."""
    parts = [p for p in rel.split("/") if p]
    for top in lowerdirs(record):
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i, comp in enumerate(parts):
                try:
                    st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    break
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    return None  # whiteout: hidden below
                if i == len(parts) - 1:
                    if not stat.S_ISREG(st.st_mode):
                        return None
                    nfd = os.open(comp, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
                    with os.fdopen(nfd, "rb") as f:
                        return f.read(1 << 20)
                if not stat.S_ISDIR(st.st_mode):
                    return None
                nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = nfd
        finally:
            os.close(fd)
    return None


def list_images() -> list:
    return _store().all()


def _default_name(source, archive: str) -> str:
    for tag in source.tags:
        name = normalize(tag.rsplit("/", 1)[-1])
        try:
            return names.validate_name(name.replace(":", "-") if ":" in name else name, "image name")
        except InvalidArgument:
            continue
    raise InvalidArgument(f"{archive}: the archive names no image; give a NAME")


def import_archive(archive: str, ref=None, warn=lambda m: None, progress=None) -> dict:
    """Import a docker or OCI archive or a rootfs tarball as image ``ref``
    (default: the archive's own tag). ``progress(label, done, total)`` is
    called per layer. Nothing remains if it fails."""
    from minipod.image import archive as archives
    from minipod.image import config as imgconfig
    if not os.path.isfile(archive):
        what = "not a regular file" if os.path.exists(archive) else "no such file"
        raise InvalidArgument(f"cannot import {archive!r}: {what}")
    if ref is not None:
        names.validate_name(normalize(ref), "image name")
    archive = os.path.abspath(archive)  # layers are applied from another working directory
    source = archives.read(archive)
    name = normalize(ref) if ref else _default_name(source, archive)
    names.validate_name(name, "image name")
    if _store().load(name) is not None:
        raise AlreadyExists(f"image {name!r} already exists (remove it with `minipod image rm {name}`)")
    cfg = imgconfig.from_image_config(source.config) if source.config else {}
    chains = imgconfig.chain_ids([l.diff_id for l in source.layers]) if source.config else [None]
    made = []
    try:
        with layers.lock():
            applied = []
            for i, (layer, chain) in enumerate(zip(source.layers, chains)):
                label = f"{archive}: layer {i + 1}/{len(source.layers)}"
                if chain and layers.exists(chain):
                    applied.append(chain)
                    continue
                report = (lambda n, label=label, size=layer.size: progress(label, n, size)) if progress else None
                rec = layers.apply(applied, _opener(archive, layer), label,
                                   {"digest": layer.digest, "diff_id": layer.diff_id},
                                   chain_id=chain, warn=warn, progress=report)
                made.append(rec["chain_id"])
                applied.append(rec["chain_id"])
            # "id" is the store's directory (the name); the image's own id is
            # its config digest, as docker's, or its top layer for a rootfs.
            record = {"id": name, "name": name, "digest": source.config_digest or applied[-1],
                      "format": source.format,
                      "created": time.time(), "source": os.path.abspath(archive), "layers": applied,
                      "config": cfg, "tags": source.tags,
                      "size": sum(layers.load(c)["size"] for c in applied)}
            with state.global_lock():
                if _store().load(name) is not None:
                    raise AlreadyExists(f"image {name!r} already exists")
                _store().save(record)
        return record
    except BaseException:
        for chain in made:  # only what this import added; shared layers stay
            if not _layer_users(chain):
                layers.remove(chain)
        raise


def _opener(archive: str, layer):
    """A function returning the layer blob as a binary file."""
    if not layer.member:
        return lambda: open(archive, "rb")

    def open_member():
        import contextlib
        import tarfile
        stack = contextlib.ExitStack()
        tar = stack.enter_context(tarfile.open(archive, "r:*"))
        try:
            f = tar.extractfile(layer.member)
        except KeyError:
            stack.close()
            raise InvalidArgument(f"{archive}: layer {layer.member!r} is missing") from None
        if f is None:
            stack.close()
            raise InvalidArgument(f"{archive}: layer {layer.member!r} is not a file")
        stack.enter_context(f)
        return _Closing(f, stack)
    return open_member


class _Closing:
    """A member file that also closes its archive when it is closed."""

    def __init__(self, f, stack):
        self.f, self.stack = f, stack

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stack.close()


def _layer_users(chain: str) -> list:
    return [r["name"] for r in _store().all() if chain in r.get("layers", [])]


def layer_usage() -> dict:
    """{chain id: [image names]} over every image."""
    out = {}
    for r in _store().all():
        for c in r.get("layers", []):
            out.setdefault(c, []).append(r["name"])
    return out


def unreferenced_layers() -> list:
    used = layer_usage()
    return [c for c in layers.all_ids() if c not in used]


def remove(ref: str, force: bool, users: list) -> list:
    """Remove an image and the layers no other image uses. ``users`` are
    the container records that use it: any user refuses without
    ``force``; a running user refuses always. Returns the freed layers."""
    record = load(ref)
    running = [u for u in users if u["status"] == "running"]
    if running:
        raise InUse(f"image {record['name']!r} is used by running container {running[0]['name']!r}")
    if users and not force:
        raise InUse(f"image {record['name']!r} is used by container {users[0]['name']!r} (use -f to remove anyway)")
    d = paths.images_dir() / record["name"]
    trash = d.with_name(f".rm-{record['name']}-{os.urandom(4).hex()}")
    with layers.lock():
        os.rename(d, trash)  # atomic: the image is gone at once, deletion follows
        from minipod import fsutil
        fsutil.rmtree(trash, ignore_errors=True)
        freed = [c for c in record.get("layers", []) if not _layer_users(c)]
        for chain in freed:
            layers.remove(chain)
    return freed


def inspect(ref: str) -> dict:
    """docker image inspect's shape."""
    record = load(ref)
    cfg = record.get("config", {})
    return {"Id": record["digest"],
            "RepoTags": [record["name"]] + [t for t in record.get("tags", []) if t != record["name"]],
            "Created": record["created"], "Size": record["size"], "Format": record.get("format", "rootfs"),
            "Config": {k: cfg.get(k) for k in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User",
                                                 "ExposedPorts", "Labels", "StopSignal")},
            "RootFS": {"Type": "layers",
                       "Layers": [layers.load(c)["diff_id"] for c in record.get("layers", [])]},
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(lowerdirs(record))}}}
