"""Read an image archive: a `docker save` archive, an OCI image layout
archive (`podman save --format oci-archive`, `skopeo copy ... oci-archive:`),
or a plain rootfs tarball. Returns what to import; verifies nothing yet
(layers are checked against their digests while they are applied)."""

import hashlib
import json
import tarfile
from dataclasses import dataclass, field

from minipod.errors import InvalidArgument, UnsafeArchive

MAX_JSON = 16 << 20  # manifests and configs are small; refuse anything absurd


@dataclass
class Layer:
    """One layer blob inside the archive."""

    member: str  # its name in the outer archive ("" for a plain tarball: the file itself)
    digest: str = None  # expected sha256 of the blob as stored (OCI descriptors)
    diff_id: str = None  # expected sha256 of the uncompressed tar (image config)
    size: int = 0


@dataclass
class Source:
    """What an archive holds: its format, the image config, the layers
    bottom first, and the names it was saved under."""

    format: str  # "docker-archive", "oci-archive" or "rootfs"
    config: dict = None
    config_digest: str = None
    layers: list = field(default_factory=list)
    tags: list = field(default_factory=list)


def _json(tar: tarfile.TarFile, name: str, what: str, digest_out=None):
    try:
        member = tar.getmember(name)
    except KeyError:
        raise InvalidArgument(f"{what} {name!r} is missing from the archive") from None
    if member.size > MAX_JSON:
        raise InvalidArgument(f"{what} {name!r} is too large")
    f = tar.extractfile(member)
    if f is None:
        raise InvalidArgument(f"{what} {name!r} is not a file")
    data = f.read()
    if digest_out is not None:
        digest_out.append("sha256:" + hashlib.sha256(data).hexdigest())
    try:
        return json.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"{what} {name!r} is not valid JSON: {e}") from None


def _blob(digest) -> str:
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71 or \
            any(c not in "0123456789abcdef" for c in digest[7:]):
        raise InvalidArgument(f"unsupported or malformed digest {str(digest)[:80]!r} (sha256 only)")
    return "blobs/sha256/" + digest[7:]


def _docker(tar) -> Source:
    manifest = _json(tar, "manifest.json", "docker manifest")
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise InvalidArgument("manifest.json: expected a list of images")
    if len(manifest) > 1:
        raise InvalidArgument("manifest.json holds several images; save one image per archive")
    entry = manifest[0]
    cfg_name, layer_names = entry.get("Config"), entry.get("Layers")
    if not isinstance(cfg_name, str) or not isinstance(layer_names, list) or \
            not all(isinstance(n, str) for n in layer_names):
        raise InvalidArgument("manifest.json: Config and Layers are required")
    from minipod.image import config as imgconfig
    digest = []
    doc = _json(tar, cfg_name, "image config", digest)
    ids = imgconfig.diff_ids(doc)
    if len(ids) != len(layer_names):
        raise InvalidArgument(f"manifest.json lists {len(layer_names)} layers, the config {len(ids)}")
    tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]
    return Source("docker-archive", doc, digest[0],
                  [Layer(n, None, d) for n, d in zip(layer_names, ids)], tags)


def _oci(tar) -> Source:
    index = _json(tar, "index.json", "OCI index")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not manifests:
        raise InvalidArgument("index.json lists no manifest")
    if len(manifests) > 1:
        raise InvalidArgument("index.json lists several images; save one image per archive")
    desc = manifests[0]
    if not isinstance(desc, dict):
        raise InvalidArgument("index.json: malformed descriptor")
    if "index" in str(desc.get("mediaType", "")) or "list" in str(desc.get("mediaType", "")):
        raise InvalidArgument("multi-platform image indexes are not supported; copy one platform")
    got = []
    manifest = _json(tar, _blob(desc.get("digest")), "OCI manifest", got)
    if got[0] != desc.get("digest"):
        raise UnsafeArchive(f"OCI manifest: digest mismatch: expected {desc.get('digest')}, got {got[0]} "
                            "(the archive is corrupt or was tampered with)")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict) or \
            not isinstance(manifest.get("layers"), list):
        raise InvalidArgument("OCI manifest: config and layers are required")
    cfg_digest = manifest["config"].get("digest")
    got = []
    doc = _json(tar, _blob(cfg_digest), "image config", got)
    if got[0] != cfg_digest:
        raise UnsafeArchive(f"image config: digest mismatch: expected {cfg_digest}, got {got[0]} "
                            "(the archive is corrupt or was tampered with)")
    from minipod.image import config as imgconfig
    ids = imgconfig.diff_ids(doc)
    if len(ids) != len(manifest["layers"]):
        raise InvalidArgument(f"OCI manifest lists {len(manifest['layers'])} layers, the config {len(ids)}")
    layers = []
    for d, diff in zip(manifest["layers"], ids):
        if not isinstance(d, dict):
            raise InvalidArgument("OCI manifest: malformed layer descriptor")
        layers.append(Layer(_blob(d.get("digest")), d["digest"], diff, d.get("size") or 0))
    ref = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
    return Source("oci-archive", doc, cfg_digest, layers, [ref] if isinstance(ref, str) else [])


def read(path: str) -> Source:
    """Detect the format of ``path`` and read its manifest and config."""
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, EOFError, OSError):
        raise UnsafeArchive(f"{path}: not a readable tar archive "
                            "(expected a docker or OCI archive, or a .tar/.tar.gz/.tar.xz rootfs)") from None
    try:
        with tar:
            try:
                names = set(tar.getnames())
            except (tarfile.TarError, EOFError, OSError) as e:
                raise UnsafeArchive(f"{path}: corrupt or truncated archive ({e})") from None
            if "manifest.json" in names:
                return _docker(tar)
            if "oci-layout" in names and "index.json" in names:
                return _oci(tar)
    except (tarfile.TarError, EOFError) as e:
        raise UnsafeArchive(f"{path}: corrupt or truncated archive ({e})") from None
    return Source("rootfs", None, None, [Layer("")], [])
