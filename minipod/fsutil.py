"""Directory trees of any depth: removal and disk usage without recursion.

Python 3.11's ``shutil.rmtree`` and ``os.walk`` recurse once per directory
level, so a tree a few thousand levels deep (a hostile image, or a container
that ran ``mkdir`` in a loop) raises RecursionError, which ``ignore_errors``
does not catch. The walk here is iterative, works relative to one directory
fd at a time (so paths longer than PATH_MAX work too), never follows
symlinks, and climbs back up through "..", so no fd is held per level.
"""

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name, dir_fd=None):
    """An fd of directory ``name``; None if it is gone or not a directory
    (a symlink to one included: it is never followed)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def _walk(path, visit, leave=None, dir_fd=None) -> bool:
    """Depth-first over the directories below and including ``path``.

    ``visit(fd)`` is called once per directory and returns the names of its
    subdirectories to descend into; ``leave(parent_fd, name)`` is called
    when subdirectory ``name`` is finished. False if ``path`` is not a
    directory.
    """
    fd = _open_dir(path, dir_fd)
    if fd is None:
        return False
    try:
        pending = [visit(fd)]  # per level: subdirectories not visited yet
        below = []  # per level under ``path``: the name descended into
        while pending:
            if not pending[-1]:
                pending.pop()
                if below:
                    parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = parent
                    name = below.pop()
                    if leave:
                        leave(fd, name)
                continue
            name = pending[-1].pop()
            child = _open_dir(name, dir_fd=fd)
            if child is None:
                continue  # vanished or replaced meanwhile
            os.close(fd)
            fd = child
            below.append(name)
            pending.append(visit(fd))
    finally:
        os.close(fd)
    return True


def _ignore_missing(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except FileNotFoundError:
        pass


def rmtree_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` (a tree, or a file) relative to directory ``dir_fd``."""
    rmtree(name, dir_fd=dir_fd)


def rmtree(path, ignore_errors: bool = False, dir_fd=None) -> None:
    """Remove ``path`` (a directory tree, or a file) if it exists; with
    ``ignore_errors``, OSErrors (a busy mount point, say) are swallowed as
    shutil.rmtree does, and what could not be removed stays for gc."""
    if ignore_errors:
        try:
            rmtree(path, dir_fd=dir_fd)
        except OSError:
            pass
        return
    path = os.fspath(path)

    def visit(fd):
        subdirs = []
        with os.scandir(fd) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
                else:
                    _ignore_missing(os.unlink, entry.name, dir_fd=fd)
        return subdirs

    def leave(parent_fd, name):
        _ignore_missing(os.rmdir, name, dir_fd=parent_fd)

    if _walk(path, visit, leave, dir_fd):
        _ignore_missing(os.rmdir, path, dir_fd=dir_fd)
    else:
        _ignore_missing(os.unlink, path, dir_fd=dir_fd)


def disk_usage(path) -> int:
    """Bytes allocated below ``path``, as ``du`` counts them (st_blocks * 512)."""
    total = 0

    def visit(fd):
        nonlocal total
        subdirs = []
        with os.scandir(fd) as it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(entry.name)
        return subdirs

    _walk(path, visit)
    return total
