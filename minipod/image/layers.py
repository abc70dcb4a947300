"""The layer store: each layer extracted once, on top of its parents, into
<lib root>/layers/<chain id hex>/diff, keyed by its OCI ChainID, so images
that share a base share it on disk. A container mounts an image's layers
as overlay lowerdirs, topmost first.

A layer is applied the way containerd's overlay snapshotter does it: in a
child process with a private mount namespace, an overlay of the parent
layers (lower) and the new layer's empty dir (upper) is mounted and the
layer tar is extracted into the merged view through tarsafe. The kernel
turns deletions into overlay whiteouts in the upper dir, and every safety
check runs against the accumulated rootfs. While it streams, the blob is
hashed as stored (the descriptor's digest) and uncompressed (the config's
diff_id); a mismatch refuses the layer and nothing of it stays.
"""

import json
import os
import time
from pathlib import Path

from minipod import fsutil, paths, state
from minipod.errors import MinipodError, UnsafeArchive

RECORD = "layer.json"


def root() -> Path:
    return paths.lib_root() / "layers"


def layer_dir(chain_id: str) -> Path:
    return root() / chain_id.removeprefix("sha256:")


def diff_dir(chain_id: str) -> Path:
    return layer_dir(chain_id) / "diff"


def exists(chain_id: str) -> bool:
    return (layer_dir(chain_id) / RECORD).is_file()


def load(chain_id: str) -> dict:
    return state.read_json(layer_dir(chain_id) / RECORD)


def all_ids() -> list:
    if not root().is_dir():
        return []
    return sorted("sha256:" + d.name for d in root().iterdir()
                  if not d.name.startswith(".") and (d / RECORD).is_file())


def lock():
    """Held while layers are added or removed: an import never builds on a
    layer that an `image rm` is deleting."""
    root().mkdir(parents=True, exist_ok=True)
    return state.locked(root() / "lock")


class _Hashing:
    """A read-only file wrapper that hashes what passes through it."""

    def __init__(self, f, on_read=None):
        import hashlib  # imports only: the CLI's hot path does without
        self.f, self.h, self.n, self.on_read = f, hashlib.sha256(), 0, on_read

    def read(self, size=-1):
        data = self.f.read(size)
        self.h.update(data)
        self.n += len(data)
        if self.on_read:
            self.on_read(self.n)
        return data

    def drain(self):
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self.h.hexdigest()


def _decompressed(raw: _Hashing):
    """A stream of the uncompressed layer, by its magic bytes."""
    import bz2
    import gzip
    import lzma
    head = raw.f.peek(6)[:6] if hasattr(raw.f, "peek") else b""
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"\xfd7zXZ"):
        return lzma.LZMAFile(raw)
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise UnsafeArchive("zstd-compressed layers are not supported (recompress with gzip, "
                            "e.g. skopeo copy --dest-compress-format gzip)")
    return raw


def _extract_in_child(lowers: list, upper: Path, work: Path, merged: Path, opener, label, expect, emit):
    """Child side: mount the overlay (if there are parents), extract, verify."""
    import tarfile
    from minipod.image import tarsafe
    from minipod.runtime import syscalls as sc
    target = upper
    if lowers:
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        os.chdir(root())  # relative lowerdirs keep the option string short
        opts = "lowerdir={},upperdir={},workdir={}".format(
            ":".join(os.path.relpath(p, root()) for p in lowers), upper, work)
        sc.mount("overlay", str(merged), "overlay", 0, opts)
        target = merged
    with opener() as f:
        raw = _Hashing(f, lambda n: emit({"progress": n}))
        stream = _Hashing(_decompressed(raw))
        tar = tarfile.open(fileobj=stream, mode="r|")
        count = tarsafe.extract_tar(tar, str(target), label, warn=lambda m: emit({"warn": m}))
        stream.drain()  # the tar's end padding belongs to the diff_id too
        raw.drain()
    got = {"digest": raw.digest(), "diff_id": stream.digest(), "size": raw.n}
    for key in ("digest", "diff_id"):
        if expect.get(key) and expect[key] != got[key]:
            raise UnsafeArchive(f"{label}: {key} mismatch: expected {expect[key]}, got {got[key]} "
                                "(the layer is corrupt or was tampered with)")
    return {"entries": count, **got}


def apply(parents: list, opener, label: str, expect: dict, chain_id=None, warn=print, progress=None) -> dict:
    """Apply one layer on ``parents`` (chain ids, bottom first) and store it.

    ``opener()`` returns the layer blob as a binary file; ``expect`` may hold
    "digest" and "diff_id". ``chain_id`` is known in advance for archives
    with a config; for a plain rootfs it is the computed diff_id. Returns the
    layer record. Nothing remains on failure.
    """
    root().mkdir(parents=True, exist_ok=True)
    tmp = root() / f".tmp-{os.getpid()}-{os.urandom(4).hex()}"
    for sub in ("diff", "work", "merged"):
        (tmp / sub).mkdir(parents=True, mode=0o755)
    lowers = [diff_dir(p) for p in reversed(parents)]
    try:
        result = _run_child(lambda emit: _extract_in_child(lowers, tmp / "diff", tmp / "work", tmp / "merged",
                                                            opener, label, expect, emit), warn, progress)
        chain = chain_id or result["diff_id"]
        record = {"chain_id": chain, "diff_id": result["diff_id"], "digest": result["digest"],
                  "parent": parents[-1] if parents else None, "entries": result["entries"],
                  "size": fsutil.disk_usage(tmp / "diff"), "created": time.time()}
        state.write_json(tmp / RECORD, record)
        fsutil.rmtree(tmp / "work")
        os.rmdir(tmp / "merged")
        final = layer_dir(chain)
        if (final / RECORD).is_file():
            return load(chain)  # built meanwhile by someone else: theirs stands
        fsutil.rmtree(final, ignore_errors=True)  # a half-removed one
        os.rename(tmp, final)
        return record
    finally:
        if tmp.exists():
            fsutil.rmtree(tmp, ignore_errors=True)


def _run_child(body, warn, progress):
    """Run body(emit) in a forked child; relay its messages; return its
    result or raise its error here (one JSON message per line)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        out = os.fdopen(w, "w")

        def emit(msg):
            out.write(json.dumps(msg) + "\n")
            out.flush()
        code = 0
        try:
            emit({"done": body(emit)})
        except MinipodError as e:
            emit({"error": str(e), "unsafe": isinstance(e, UnsafeArchive)})
            code = 1
        except BaseException as e:  # never return into the parent's code
            try:
                emit({"error": f"{type(e).__name__}: {e}", "unsafe": False})
            finally:
                code = 2
        finally:
            out.close()
            os._exit(code)
    os.close(w)
    result, error = None, None
    with os.fdopen(r) as f:
        for line in f:
            msg = json.loads(line)
            if "progress" in msg and progress:
                progress(msg["progress"])
            elif "warn" in msg:
                warn(msg["warn"])
            elif "done" in msg:
                result = msg["done"]
            elif "error" in msg:
                error = msg
    os.waitpid(pid, 0)
    if error:
        raise (UnsafeArchive if error["unsafe"] else MinipodError)(error["error"])
    if result is None:
        raise MinipodError("layer extraction ended without a result")
    return result


def remove(chain_id: str) -> None:
    d = layer_dir(chain_id)
    trash = d.with_name(f".rm-{d.name}-{os.urandom(4).hex()}")
    try:
        os.rename(d, trash)
    except FileNotFoundError:
        return
    fsutil.rmtree(trash, ignore_errors=True)


def leftovers() -> list:
    """Temporary and half-removed layer directories (for gc)."""
    if not root().is_dir():
        return []
    return sorted(d for d in root().iterdir() if d.name.startswith((".tmp-", ".rm-")) or
                  (d.is_dir() and not (d / RECORD).is_file()))
