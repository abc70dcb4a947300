"""Extract a rootfs tarball without ever leaving the rootfs.

Python's tarfile filters (PEP 706) had repeated bypasses (CVE-2024-12718,
CVE-2025-4138, CVE-2025-4330, CVE-2025-4435, CVE-2025-4517), so minipod
does not let tarfile write anything. tarfile only parses headers; every
file-system change here goes through directory fds opened with O_NOFOLLOW,
one path component at a time, relative to the rootfs:

- names that are absolute or contain ``..`` are rejected (named in the error);
- a parent component that is a symlink (planted earlier in the archive, or
  a symlink to /) is rejected, never followed;
- symlinks themselves may point anywhere (a rootfs has absolute links) but
  are created, never followed;
- hard links must name an entry inside the rootfs;
- device nodes and fifos are skipped with a warning (the container gets a
  fresh /dev tmpfs);
- owners stay numeric; setuid/setgid bits are kept (harmless under
  no_new_privs, needed by a rootfs's su);
- OCI whiteouts (``.wh.NAME``, ``.wh..wh..opq``) delete from the layers
  below, never from this layer (image-spec "Whiteouts"), and never appear.

A layer of a multi-layer image is extracted into an overlay of the layers
below it (image/apply.py), so every check above runs against the
accumulated rootfs: a symlink planted by a lower layer is a symlink here.
"""

import errno
import os
import stat
import tarfile

from minipod.errors import UnsafeArchive



def max_entries() -> int:
    """Read when used (so are the others from the environment): a worker of
    the node process has its caller's environment, not the agent's."""
    return int(os.environ.get("MINIPOD_IMAGE_MAX_ENTRIES", "1000000"))


def max_bytes() -> int:
    return int(os.environ.get("MINIPOD_IMAGE_MAX_BYTES", str(16 << 30)))


# Limits on one entry, as tar implementations and the kernel have them: a
# name or link target longer than PATH_MAX (4096 with its NUL) cannot be
# used by ordinary tools, and no real rootfs nests 256 directories deep.
MAX_NAME_BYTES = 4095
MAX_DEPTH = 256
MAX_ID = 2**32 - 2  # (uid_t)-1 means "unchanged" to chown
MAX_MTIME = 2**33  # year 2242: far enough, and well inside utime's range
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _shown(name: str) -> str:
    """A name short enough for a one-line error."""
    return name if len(name) <= 80 else name[:60] + "..." + name[-16:]


def split_name(name: str) -> list:
    """Validate an archive member name; return its components.

    Pure: raises UnsafeArchive for absolute names, ``..`` components, NULs,
    and names past the length and depth limits.
    """
    shown = _shown(name)
    if "\0" in name:
        raise UnsafeArchive(f"unsafe archive entry {shown!r}: NUL in name")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise UnsafeArchive(f"archive entry {shown!r}: path of {size} bytes exceeds the limit of {MAX_NAME_BYTES}")
    if name.startswith("/"):
        raise UnsafeArchive(f"unsafe archive entry {shown!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchive(f"unsafe archive entry {shown!r}: '..' leaves the rootfs")
    if len(parts) > MAX_DEPTH:
        raise UnsafeArchive(f"archive entry {shown!r}: {len(parts)} levels deep exceeds the limit of {MAX_DEPTH}")
    if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
        raise UnsafeArchive(f"archive entry {shown!r}: a path component is longer than 255 bytes")
    return parts


def check_member(member: tarfile.TarInfo) -> list:
    """Validate everything extraction takes from a member's header; return
    the name's components. Pure: raises UnsafeArchive."""
    parts = split_name(member.name)
    if member.issym():
        target = member.linkname
        if not target or "\0" in target or len(target.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise UnsafeArchive(f"archive entry {_shown(member.name)!r}: invalid symlink target "
                                f"{_shown(target)!r}")
    for what in ("uid", "gid"):
        value = getattr(member, what)
        if not isinstance(value, int) or not 0 <= value <= MAX_ID:
            raise UnsafeArchive(f"archive entry {_shown(member.name)!r}: {what} {value!r} is out of range")
    return parts


def mtime_ns(member: tarfile.TarInfo) -> int:
    """The member's mtime in ns, clamped to what utime accepts (pax headers
    can carry any number, even inf or nan)."""
    try:
        seconds = float(member.mtime)
    except (TypeError, ValueError):
        return 0
    if seconds != seconds:  # nan
        return 0
    return int(min(max(seconds, 0.0), MAX_MTIME) * 1e9)


def classify(member: tarfile.TarInfo) -> str:
    """What extraction does with a member: dir, file, symlink, hardlink, skip."""
    if member.isdir():
        return "dir"
    if member.isreg():
        return "file"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    return "skip"  # char/block devices, fifos, anything exotic


WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class _Extractor:
    def __init__(self, root: str, warn):
        self.root_fd = os.open(root, _DIR_FLAGS)
        self.warn = warn
        self.dir_modes = []
        self.created = set()  # paths (tuples) this archive made: whiteouts spare them

    def _whiteout(self, parts, name):
        """Delete what a whiteout hides in the layers below: one entry, or
        (opaque) every child of the directory that this layer did not add."""
        base = parts[-1]
        opaque = base == OPAQUE
        fd = self._parent_fd(parts, name)
        try:
            if opaque:
                victims = [n for n in os.listdir(fd) if tuple(parts[:-1]) + (n,) not in self.created]
            else:
                target = base[len(WHITEOUT):]
                if not target or target in (".", ".."):
                    raise UnsafeArchive(f"unsafe archive entry {_shown(name)!r}: whiteout of nothing")
                victims = [] if tuple(parts[:-1]) + (target,) in self.created else [target]
            for victim in victims:
                try:
                    st = os.lstat(victim, dir_fd=fd)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    from minipod import fsutil
                    fsutil.rmtree_at(fd, victim)
                else:
                    os.unlink(victim, dir_fd=fd)
        finally:
            os.close(fd)

    def close(self):
        os.close(self.root_fd)

    def _parent_fd(self, parts, name, create=True):
        """Open the directory that will hold parts[-1], component by component."""
        fd = os.dup(self.root_fd)
        try:
            for comp in parts[:-1]:
                try:
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise UnsafeArchive(f"archive entry {name!r}: link target does not exist") from None
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafeArchive(
                            f"unsafe archive entry {name!r}: {comp!r} is a symlink or not a directory"
                        ) from None
                    raise
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    @staticmethod
    def _clear(fd, last):
        """Remove whatever non-directory is at ``last`` so we can replace it."""
        try:
            st = os.lstat(last, dir_fd=fd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(last)
        os.unlink(last, dir_fd=fd)

    def extract(self, tar, member):
        parts = check_member(member)
        if not parts:
            return  # "./" itself
        if parts[-1].startswith(WHITEOUT):
            self._whiteout(parts, member.name)
            return
        kind = classify(member)
        if kind == "skip":
            self.warn(f"skipped {_shown(member.name)!r}: device nodes and fifos are not extracted")
            return
        fd = self._parent_fd(parts, member.name)
        last = parts[-1]
        for depth in range(1, len(parts) + 1):
            self.created.add(tuple(parts[:depth]))
        try:
            if kind == "dir":
                try:
                    st = os.lstat(last, dir_fd=fd)
                    if not stat.S_ISDIR(st.st_mode):
                        os.unlink(last, dir_fd=fd)
                        os.mkdir(last, 0o700, dir_fd=fd)
                except FileNotFoundError:
                    os.mkdir(last, 0o700, dir_fd=fd)
                self.dir_modes.append((parts, member))
            elif kind == "file":
                self._clear(fd, last)
                out = os.open(last, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                              0o600, dir_fd=fd)
                try:
                    src = tar.extractfile(member)
                    while chunk := src.read(1 << 20):
                        os.write(out, chunk)
                    os.fchown(out, member.uid, member.gid)
                    os.fchmod(out, member.mode & 0o7777)  # after chown, which clears setuid
                    os.utime(out, ns=(mtime_ns(member),) * 2)
                finally:
                    os.close(out)
            elif kind == "symlink":
                self._clear(fd, last)
                os.symlink(member.linkname, last, dir_fd=fd)
                os.chown(last, member.uid, member.gid, dir_fd=fd, follow_symlinks=False)
            elif kind == "hardlink":
                target = split_name(member.linkname)
                if not target:
                    raise UnsafeArchive(f"unsafe archive entry {_shown(member.name)!r}: hard link to the root")
                tfd = self._parent_fd(target, member.name, create=False)
                try:
                    self._clear(fd, last)
                    os.link(target[-1], last, src_dir_fd=tfd, dst_dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    raise UnsafeArchive(
                        f"archive entry {_shown(member.name)!r}: hard link target {_shown(member.linkname)!r} is not in the archive"
                    ) from None
                finally:
                    os.close(tfd)
        except IsADirectoryError:
            raise UnsafeArchive(f"archive entry {_shown(member.name)!r} would replace a directory") from None
        finally:
            os.close(fd)

    def finish(self):
        """Apply directory modes/owners last (a read-only dir would block its
        own contents), deepest first."""
        for parts, member in sorted(self.dir_modes, key=lambda x: -len(x[0])):
            fd = self._parent_fd(parts, member.name, create=False)
            try:
                dfd = os.open(parts[-1], _DIR_FLAGS, dir_fd=fd)
                try:
                    os.fchown(dfd, member.uid, member.gid)
                    os.fchmod(dfd, member.mode & 0o7777)
                    os.utime(dfd, ns=(mtime_ns(member),) * 2)
                finally:
                    os.close(dfd)
            finally:
                os.close(fd)


def extract(archive_path: str, root: str, warn=lambda msg: None, progress=None) -> int:
    """Extract ``archive_path`` (.tar, .tar.gz, .tar.xz, .tar.bz2) into the
    existing empty directory ``root``. Returns the number of entries.

    ``progress(done_bytes)`` is called with the compressed bytes read so far.
    """
    raw = open(archive_path, "rb")
    try:
        try:
            tar = tarfile.open(fileobj=raw, mode="r:*")
        except (tarfile.TarError, EOFError, OSError):
            raise UnsafeArchive(f"{archive_path}: not a readable tar archive "
                                "(expected .tar, .tar.gz, .tar.xz or .tar.bz2)") from None
        return extract_tar(tar, root, archive_path, warn, lambda: progress(raw.tell()) if progress else None)
    finally:
        raw.close()


def extract_tar(tar: tarfile.TarFile, root: str, label: str, warn=lambda msg: None, progress=None) -> int:
    """Extract the members of an open ``tar`` (random access or a stream,
    "r|*") into ``root``; ``label`` names the archive in errors. Returns the
    number of entries."""
    ex = _Extractor(root, warn)
    count = total = 0
    limit_entries, limit_bytes = max_entries(), max_bytes()
    try:
        with tar:
            while True:
                try:
                    member = tar.next()
                except (tarfile.TarError, EOFError, OSError) as e:
                    raise UnsafeArchive(f"{label}: corrupt or truncated archive ({e})") from None
                if member is None:
                    break
                count += 1
                total += max(member.size, 0)
                if count > limit_entries:
                    raise UnsafeArchive(f"{label}: more than {limit_entries} entries")
                if total > limit_bytes:
                    raise UnsafeArchive(f"{label}: more than {limit_bytes} bytes of content")
                try:
                    ex.extract(tar, member)
                except (tarfile.TarError, EOFError) as e:
                    raise UnsafeArchive(f"{label}: corrupt or truncated archive at "
                                        f"{_shown(member.name)!r} ({e})") from None
                except OSError as e:  # the kernel refused what the entry asks (ENAMETOOLONG, EPERM ...)
                    raise UnsafeArchive(f"{label}: cannot extract {_shown(member.name)!r}: "
                                        f"{e.strerror or e}") from None
                if progress:
                    progress()
            try:
                ex.finish()
            except OSError as e:
                raise UnsafeArchive(f"{label}: cannot set directory modes: {e.strerror or e}") from None
    finally:
        ex.close()
    if count == 0:
        raise UnsafeArchive(f"{label}: empty archive")
    return count
