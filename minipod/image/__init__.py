"""Images: layers in a content-addressed store, a config, and references.

An image is images/<id>/record.json naming its layers (chain ids, bottom
first) in the layer store (image/layers.py), the honoured fields of its
config (image/config.py), and the references that name it ("repo_tags":
normalised, docker.io/library/busybox:latest; image/reference.py). Its id
is its config's digest, as docker's. Imports read docker and OCI archives
and plain rootfs tarballs (image/archive.py), keeping the archive's own
references (RepoTags; OCI's ref.name) unless given one; a layer already in
the store is not extracted again. A failed import leaves no image and no
new layer. Images stored under a plain name before references existed
(images/busybox) are named by it (as docker.io/library/busybox:latest), and
those imported before the layer store existed keep their rootfs/.
"""

import os
import stat
import time

from minipod import paths, state
from minipod.errors import AlreadyExists, InUse, InvalidArgument, NotFound
from minipod.image import layers, reference


def normalize(ref: str) -> str:
    """'busybox', 'busybox:latest' and 'docker.io/library/busybox' are the same image."""
    return reference.normalize(ref)


def _store():
    return state.Store(paths.images_dir(), "image")


def references(record: dict) -> list:
    """The normalised references naming the image (an old record: its name)."""
    if "repo_tags" in record:
        return list(record["repo_tags"])
    try:
        return [normalize(record["name"])]
    except InvalidArgument:
        return []


def display_name(record: dict) -> str:
    """The image in a message: its first reference, short (busybox, me/app:v1)."""
    refs = references(record)
    return reference.familiar(refs[0]).removesuffix(":" + reference.DEFAULT_TAG) if refs else \
        record.get("digest", record["id"])[7:19]


def find(ref: str):
    """The record of the image ``ref`` names (a reference, an id or a
    prefix of one of 12 hex digits at least), or None; InvalidArgument when
    ``ref`` is neither."""
    records = _store().all()
    if reference.is_id(ref):
        hexid = ref.split(":")[-1]
        by_id = [r for r in records if r.get("digest", "").split(":")[-1].startswith(hexid)]
        if len(by_id) == 1:
            return by_id[0]
    want = normalize(ref)
    return next((r for r in records if want in references(r)), None)


def load(ref: str) -> dict:
    """The record of image ``ref``; NotFound if absent."""
    record = find(ref)
    if record is None:
        raise NotFound(f"no such image: {ref} (import one with `minipod image import FILE {ref}`, "
                       f"or `minipod pull`)")
    return record


def lowerdirs(record: dict) -> list:
    """The directories an overlay of this image stacks, topmost first."""
    if "layers" not in record:
        return [str(_store().dir(record["id"]) / "rootfs")]
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


def _archive_references(source, archive: str) -> list:
    """The references an archive names its image by: docker's RepoTags, or
    OCI's ref.name (read as a reference, as `podman load` does: `web` is
    docker.io/library/web:latest); InvalidArgument when it names none."""
    out = []
    for tag in source.tags:
        try:
            ref = normalize(tag)
        except InvalidArgument:
            continue
        if ref not in out:
            out.append(ref)
    if not out:
        raise InvalidArgument(f"{archive}: the archive names no image; give a NAME")
    return out


def import_archive(archive: str, ref=None, warn=lambda m: None, progress=None) -> dict:
    """Import a docker or OCI archive or a rootfs tarball as image ``ref``
    (default: the references the archive names). An image already here
    (the same id) gains the references; a reference naming another image
    is refused. ``progress(label, done, total)`` is called per layer.
    Nothing remains if it fails."""
    from minipod.image import archive as archives
    from minipod.image import config as imgconfig
    if not os.path.isfile(archive):
        what = "not a regular file" if os.path.exists(archive) else "no such file"
        raise InvalidArgument(f"cannot import {archive!r}: {what}")
    wanted = [normalize(ref)] if ref is not None else None
    archive = os.path.abspath(archive)  # layers are applied from another working directory
    source = archives.read(archive)
    wanted = wanted or _archive_references(source, archive)
    for want in wanted:
        holder = find(want)
        if holder is not None and (not source.config_digest or holder.get("digest") != source.config_digest):
            raise AlreadyExists(f"image {reference.familiar(want)!r} already exists (remove it with "
                                f"`minipod image rm {reference.familiar(want)}`, or import under another name)")
    if source.config_digest:
        same = next((r for r in _store().all() if r.get("digest") == source.config_digest), None)
        if same is not None:
            return add_references(same, wanted)
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
            # The image's id (and its directory's name) is its config digest, as
            # docker's, or its top layer for a rootfs.
            digest = source.config_digest or applied[-1]
            # (no name of its own: what names it is repo_tags, shown by display_name)
            record = {"id": digest.split(":")[-1], "digest": digest, "repo_tags": wanted, "format": source.format,
                      "created": time.time(), "source": os.path.abspath(archive), "layers": applied,
                      "config": cfg, "size": sum(layers.load(c)["size"] for c in applied)}
            with state.global_lock():
                same = _store().load(record["id"])
                if same is None:
                    if any(find(w) for w in wanted):  # named meanwhile by another import
                        raise AlreadyExists(f"image {display_name(record)!r} already exists")
                    _store().save(record)
        # the same rootfs imported again (or the same image by a racing import): more references
        return record if same is None else add_references(same, wanted)
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
    return [display_name(r) for r in _store().all() if chain in r.get("layers", [])]


def layer_usage() -> dict:
    """{chain id: [image names]} over every image."""
    out = {}
    for r in _store().all():
        for c in r.get("layers", []):
            out.setdefault(c, []).append(display_name(r))
    return out


def unreferenced_layers() -> list:
    used = layer_usage()
    return [c for c in layers.all_ids() if c not in used]


def add_references(record: dict, refs: list) -> dict:
    """Name the image by ``refs`` too (normalised); a reference naming
    another image moves to this one, as `docker tag` moves it."""
    with state.global_lock():
        for other in _store().all():
            if other["id"] != record["id"] and set(references(other)) & set(refs):
                other["repo_tags"] = [r for r in references(other) if r not in refs]
                _store().save(other)
        record = _store().load(record["id"])
        record["repo_tags"] = references(record) + [r for r in refs if r not in references(record)]
        _store().save(record)
    return record


def tag(source: str, target: str) -> dict:
    """`image tag SOURCE TARGET`."""
    return add_references(load(source), [normalize(target)])


def remove(ref: str, force: bool, users_of, every_reference: bool = False) -> tuple:
    """`image rm REF`, as docker's: a reference of an image that others also
    name it by is only untagged; else the image goes with the layers no
    other image uses. ``users_of(record)``: the container records that use
    it (any refuses without ``force``; a running one always).
    ``every_reference``: the image goes whatever names it (the CRI's
    RemoveImage). Returns (the references untagged, the id of the image
    deleted or None, the layers freed)."""
    record = load(ref)
    refs = references(record)
    by_reference = not reference.is_id(ref) or normalize(ref) in refs
    if by_reference and len(refs) > 1 and not every_reference:
        gone = normalize(ref)
        with state.global_lock():
            record = _store().load(record["id"])
            record["repo_tags"] = [r for r in references(record) if r != gone]
            _store().save(record)
        return [gone], None, []
    if len(refs) > 1 and not (force or every_reference):
        raise InUse(f"image {ref} is named by {len(refs)} references ({', '.join(map(reference.familiar, refs))}): "
                    "remove them one by one, or use -f")
    users = users_of(record)
    running = [u for u in users if u["status"] == "running"]
    name = display_name(record)
    if running:
        raise InUse(f"image {name!r} is used by running container {running[0]['name']!r}")
    if users and not force:
        raise InUse(f"image {name!r} is used by container {users[0]['name']!r} (use -f to remove anyway)")
    d = _store().dir(record["id"])
    trash = d.with_name(f".rm-{record['id']}-{os.urandom(4).hex()}")
    with layers.lock():
        os.rename(d, trash)  # atomic: the image is gone at once, deletion follows
        from minipod import fsutil
        fsutil.rmtree(trash, ignore_errors=True)
        freed = [c for c in record.get("layers", []) if not _layer_users(c)]
        for chain in freed:
            layers.remove(chain)
    return refs, record["digest"], freed


def inspect(ref: str) -> dict:
    """docker image inspect's shape."""
    record = load(ref)
    cfg = record.get("config", {})
    return {"Id": record["digest"], "RepoTags": [reference.familiar(r) for r in references(record)],
            "Created": record["created"], "Size": record["size"], "Format": record.get("format", "rootfs"),
            "Config": {k: cfg.get(k) for k in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User",
                                                 "ExposedPorts", "Labels", "StopSignal")},
            "RootFS": {"Type": "layers",
                       "Layers": [layers.load(c)["diff_id"] for c in record.get("layers", [])]},
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(lowerdirs(record))}}}
