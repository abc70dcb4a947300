"""The one module that writes state: one directory and one JSON file per
object, atomic writes (temp file + fsync + rename) and flock-based locks.

flock locks die with their holder, so a lock held by a killed minipod never
blocks anyone. Records say what was intended; status is derived elsewhere
from the kernel each time it is read.
"""

import contextlib
import fcntl
import json
import marshal
import os
import time
from pathlib import Path

from minipod import procfs

RECORD = "record.json"


def write_json(path: Path, data, mode=0o644, durable=False, recycle=False) -> None:
    """Atomically replace ``path`` with ``data`` as JSON.

    The rename is atomic against crashes of minipod itself; ``durable``
    adds an fsync so the file also survives power loss (used for the CNI
    result cache, which must outlive a reboot to release IPs and rules).
    ``recycle``: for a file rewritten again and again (the object store's):
    write it through its spare (see _write_recycling); it must then be read
    with read_recycled_json.
    """
    path = Path(path)
    text = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    if recycle and not durable and _write_recycling(path, text, mode):
        return
    tmp = path.with_name(f".{path.name}.{_writer_id()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            # ext4 flushes a file's not yet allocated blocks when it replaces another by rename
            # (auto_da_alloc): blocks allocated up front leave nothing to flush there, which
            # halves the cost of a store write (the API's hot path). Not needed for correctness.
            os.posix_fallocate(fd, 0, len(text))
        except OSError:
            pass
        view = memoryview(text)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def spare_of(path: Path) -> Path:
    """The spare inode of a recycled file (no reader asks for it by name)."""
    return path.with_name(f".{path.name}.spare")


def _write_recycling(path: Path, text: bytes, mode) -> bool:
    """Write ``text`` into ``path``'s spare in place, then swap the two
    names in one step (renameat2 RENAME_EXCHANGE): the old content becomes
    the next spare. No inode is made or freed, which is most of a write's
    cost (on a journal-less ext4 such as these machines', making an inode
    after many frees scans the recently freed ones: ~200 µs; this: ~20 µs).

    The spare is written only under an exclusive flock, and readers read
    under a shared one (read_recycled_json), so a reader that opened the
    file just before it became the spare never sees it half-rewritten: the
    writer finds it locked and writes as usual. False when this cannot be
    done (no file yet, a reader on the spare, no renameat2): the caller
    writes the usual way. A crash half-way leaves a torn spare, which no
    reader takes for the file (see read_recycled_json) and the next write
    overwrites whole."""
    spare = spare_of(path)
    try:
        fd = os.open(spare, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if os.fstat(fd).st_mode & 0o7777 != mode:
            os.fchmod(fd, mode)
        done = 0
        while done < len(text):
            done += os.pwrite(fd, text[done:], done)
        os.ftruncate(fd, len(text))
        return _exchange(spare, path)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing names atomically; False if either is missing or
    the kernel or libc cannot (Python's os has no renameat2)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    return renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0  # AT_FDCWD, RENAME_EXCHANGE


_RENAMEAT2 = []


def _renameat2():
    if not _RENAMEAT2:
        import ctypes  # only the object store's writers get here
        _RENAMEAT2.append(getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None))
    return _RENAMEAT2[0]


def read_recycled_json(path: Path):
    """Read a file that write_json(recycle=True) writes: under a shared
    flock, and only while the inode read is still the one at ``path`` (one
    that has become the spare may be rewritten next, or may have been torn
    by a writer killed half-way). FileNotFoundError propagates."""
    for _attempt in range(100):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            st = os.fstat(fd)
            if os.stat(path).st_ino != st.st_ino:
                continue  # swapped since it was opened: read the one there now
            data = os.pread(fd, st.st_size + 1, 0)
        finally:
            os.close(fd)
        return json.loads(data)
    raise OSError(f"{path} kept changing while it was read")


_WRITER = {}


def _writer_id() -> str:
    """PID-STARTTIME of this process: names its temp files so that a reused
    pid (they wrap within minutes on a busy node) never passes for their writer."""
    pid = os.getpid()
    if _WRITER.get("pid") != pid:  # computed again in a forked child
        _WRITER.update(pid=pid, id=f"{pid}-{procfs.start_time(pid)}")
    return _WRITER["id"]


def _writer_alive(writer: str) -> bool:
    """Whether the process that named a temp file ``writer`` still runs (a
    zombie does not: a killed writer stays one until reaped)."""
    pid, _, start = writer.partition("-")
    if not pid.isdigit():
        return True  # not one of ours: leave it
    if procfs.state(int(pid)) in (None, "Z"):
        return False
    return not start or str(procfs.start_time(int(pid))) == start


def stale_temp_files(top: Path) -> list:
    """The temp files of write_json below ``top`` whose writer is gone (a
    SIGKILL between create and rename): ``.NAME.PID-START.tmp`` (or the
    older ``.NAME.PID.tmp``) whose process is not alive."""
    out = []
    for path in Path(top).rglob(".*.tmp") if Path(top).is_dir() else ():
        parts = path.name.rsplit(".", 2)
        if len(parts) == 3 and parts[1][:1].isdigit() and not _writer_alive(parts[1]):
            out.append(path)
    return sorted(out)


def read_json(path: Path):
    """Read a JSON file; FileNotFoundError propagates."""
    with open(path) as f:
        return json.load(f)


@contextlib.contextmanager
def locked(path: Path, shared=False):
    """Hold an flock on ``path`` (created if needed) for the with-block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def is_locked(kind: str, obj_id: str) -> bool:
    """True while some process holds the object's lock (e.g. is creating it)."""
    from minipod.paths import run_root
    return lock_held(run_root() / "locks" / f"{kind}-{obj_id}.lock")


def lock_held(path) -> bool:
    """True while some process holds an flock on ``path``."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def global_lock():
    """Serialises name allocation, host-port allocation and gc."""
    from minipod.paths import run_root
    return locked(run_root() / "locks" / "global.lock")


def object_lock(kind: str, obj_id: str):
    """Serialises operations on one pod or container."""
    from minipod.paths import run_root
    return locked(run_root() / "locks" / f"{kind}-{obj_id}.lock")


def drop_object_lock(kind: str, obj_id: str) -> None:
    """Remove a lock file after its object is gone (no-op if absent)."""
    from minipod.paths import run_root
    with contextlib.suppress(FileNotFoundError):
        os.unlink(run_root() / "locks" / f"{kind}-{obj_id}.lock")


# A file's stamp (inode, mtime, size) tells one version from another only once
# the file is older than this: a filesystem with coarse timestamps (ext4 on
# kernels before 6.13: one jiffy) gives two writes within a tick the same
# mtime, and inode numbers are reused, so a fresh file is read again until
# it has settled (git's "racy clean" rule).
SETTLED_NS = 50_000_000


def settled(st) -> bool:
    """Whether a file with stat ``st`` is old enough for its stamp to tell
    every later write apart."""
    return time.time_ns() - st.st_mtime_ns > SETTLED_NS


_CACHING = []
_RECORDS = {}  # store root -> {id: ((inode, mtime, size), marshalled record)}, while caching


def cache_records() -> None:
    """From now on this process keeps what it read of the records
    (Store.load/all): a record whose file is unchanged since (same stamp,
    settled) is not read and parsed again, and each caller still gets a
    copy of its own. For the long-running processes (the agent, the API
    server), which read every record on every pass or request; a one-shot
    CLI call would only pay for filling it."""
    _CACHING.append(True)


def uncache_records() -> None:
    """Back to reading every record afresh (a worker forked from the agent
    runs a one-shot command)."""
    _CACHING.clear()
    _RECORDS.clear()


class Store:
    """Records of one kind of object, one directory per object id."""

    def __init__(self, root: Path, kind: str):
        self.root = Path(root)
        self.kind = kind

    def dir(self, obj_id: str) -> Path:
        return self.root / obj_id

    def ids(self) -> list:
        try:
            return sorted(p.name for p in self.root.iterdir() if (p / RECORD).exists())
        except FileNotFoundError:
            return []

    def load(self, obj_id: str):
        """The record, or None if it vanished (removed concurrently)."""
        if _CACHING:
            return self._cached(_RECORDS.setdefault(str(self.root), {}), obj_id)
        try:
            return read_json(self.dir(obj_id) / RECORD)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _cached(self, cache: dict, obj_id: str):
        path = os.path.join(self.root, obj_id, RECORD)
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            hit = cache.get(obj_id)
            if hit is not None and hit[0] == stamp:
                return marshal.loads(hit[1])
            record = read_json(path)
        except (FileNotFoundError, NotADirectoryError):
            cache.pop(obj_id, None)
            return None
        if settled(st):  # if it changed since the stat, the stamp kept is older than what was read: read again
            cache[obj_id] = (stamp, marshal.dumps(record))
        else:
            cache.pop(obj_id, None)
        return record

    def all(self) -> list:
        ids = self.ids()
        if _CACHING:
            cache = _RECORDS.setdefault(str(self.root), {})
            for gone in cache.keys() - set(ids):
                cache.pop(gone, None)  # the API server's threads share it
        return [r for r in (self.load(i) for i in ids) if r is not None]

    def save(self, record: dict) -> None:
        d = self.dir(record["id"])
        d.mkdir(parents=True, exist_ok=True)
        write_json(d / RECORD, record, mode=0o600)  # records hold env vars: root only

    def get(self, ref: str) -> dict:
        """find(), or NotFound naming the kind."""
        from minipod.errors import NotFound
        record = self.find(ref)
        if record is None:
            raise NotFound(f"no such {self.kind}: {ref}")
        return record

    def find(self, ref: str):
        """Look up by exact name, exact id, or unique id prefix (>= 3 chars)."""
        records = self.all()
        for r in records:
            if r["name"] == ref or r["id"] == ref:
                return r
        if len(ref) >= 3:
            hits = [r for r in records if r["id"].startswith(ref)]
            if len(hits) == 1:
                return hits[0]
        return None
