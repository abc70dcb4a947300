"""Write OCI image layout archives (what `podman save --format oci-archive`
and `skopeo copy ... oci-archive:` produce), reproducibly: sorted entries,
owners 0:0, fixed mtimes, gzip without a timestamp.

Used by the image recipes (build-image.py) and by the tests that need
multi-layer images with whiteouts. Not part of the runtime: minipod reads
images, it does not build them.
"""

import gzip
import hashlib
import io
import json
import os
import tarfile

MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def entry(name, kind=tarfile.REGTYPE, mode=0o644, data=b"", link="", uid=0, gid=0):
    """One layer entry: (TarInfo, data or None)."""
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname, ti.uid, ti.gid = kind, mode, link, uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = MTIME
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        return ti, data
    return ti, None


def layer(entries, sort=True) -> bytes:
    """An uncompressed layer tar of ``entries`` (sorted by name unless the
    order matters, as for a whiteout next to what it hides)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in (sorted(entries, key=lambda e: e[0].name) if sort else entries):
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0, compresslevel=6) as f:
        f.write(data)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_archive(path, layer_tars, config=None, ref="image", compressed_layers=None):
    """Write an OCI archive of ``layer_tars`` (uncompressed tar bytes, bottom
    first; stored gzip-compressed, or as given in ``compressed_layers``)
    with image config fields ``config`` (Entrypoint, Cmd, Env, ...) and the
    ref name ``ref``. Returns the manifest (for tests that tamper with it)."""
    blobs = {}
    layers = []
    for i, raw in enumerate(layer_tars):
        blob = compressed_layers[i] if compressed_layers else gz(raw)
        blobs[_digest(blob)] = blob
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": _digest(blob), "size": len(blob)})
    cfg = {"architecture": "amd64", "os": "linux", "config": config or {},
           "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in layer_tars]}}
    cfg_blob = json.dumps(cfg, sort_keys=True).encode()
    blobs[_digest(cfg_blob)] = cfg_blob
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": _digest(cfg_blob), "size": len(cfg_blob)}, "layers": layers}
    man_blob = json.dumps(manifest, sort_keys=True).encode()
    blobs[_digest(man_blob)] = man_blob
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _digest(man_blob),
         "size": len(man_blob), "annotations": {"org.opencontainers.image.ref.name": ref}}]}
    files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
             "index.json": json.dumps(index, sort_keys=True).encode()}
    files.update({f"blobs/sha256/{d[7:]}": b for d, b in blobs.items()})
    tmp = f"{path}.tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            ti, _ = entry(d, tarfile.DIRTYPE, 0o755)
            tar.addfile(ti)
        for name in sorted(files):
            ti, data = entry(name, data=files[name])
            tar.addfile(ti, io.BytesIO(data))
    os.replace(tmp, path)
    return manifest
