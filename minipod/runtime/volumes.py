"""Mount a container's volumes into its rootfs, inside its mount namespace.

Runs in the container's first process before pivot_root. Every target is
resolved inside the rootfs with openat2(RESOLVE_IN_ROOT): a symlink the
image (or an earlier volume) planted, pointing at "/" or "..", resolves
within the rootfs and can never make a mount land on the host (runc's
CVE-2021-30465). A subPath is resolved the same way inside its volume.
The mount itself goes through /proc/self/fd/N, so the path is never looked
up again between the check and the mount.
"""

import os
import stat

from minipod.runtime import syscalls as sc

TMPFS_FLAGS = {"ro": sc.MS_RDONLY, "nosuid": sc.MS_NOSUID, "nodev": sc.MS_NODEV, "noexec": sc.MS_NOEXEC}


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _resolve_target(root_fd: int, target: str, as_dir: bool) -> int:
    """An O_PATH fd of ``target`` inside the rootfs, created (with its
    parents) when missing: a directory, or an empty file for a file source."""
    try:
        return sc.open_in_root(root_fd, target)
    except FileNotFoundError:
        pass
    parent, name = os.path.split(target.rstrip("/"))
    if not name:
        return sc.open_in_root(root_fd, "/")
    parent_fd = _resolve_target(root_fd, parent or "/", True)
    try:
        if as_dir:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        else:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=parent_fd))
    except FileExistsError:
        pass  # a dangling symlink, or a race: resolve again below (in root)
    finally:
        os.close(parent_fd)
    return sc.open_in_root(root_fd, target)


def _source_fd(mount: dict) -> int:
    """An O_PATH fd of a bind source; a subPath resolved inside its volume."""
    fd = os.open(mount["source"], os.O_PATH | os.O_CLOEXEC)
    sub = mount.get("subpath")
    if not sub:
        return fd
    try:
        return sc.open_in_root(fd, sub)
    finally:
        os.close(fd)


def _mount_one(root_fd: int, mount: dict) -> None:
    readonly = mount.get("readonly", False)
    if mount["type"] == "tmpfs":
        flags, data = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, []
        for opt in filter(None, mount.get("options", "").split(",")):
            if opt in ("exec", "suid", "dev", "rw"):
                flags &= ~TMPFS_FLAGS.get("no" + opt, 0)
            elif opt in TMPFS_FLAGS:
                flags |= TMPFS_FLAGS[opt]
            else:
                data.append(opt)  # size=, mode=, nr_inodes=: the kernel checks them
        target = _resolve_target(root_fd, mount["target"], True)
        try:
            sc.mount("tmpfs", _fd_path(target), "tmpfs", flags | (sc.MS_RDONLY if readonly else 0),
                     ",".join(data) or None)
        finally:
            os.close(target)
        return
    source = _source_fd(mount)
    try:
        is_dir = stat.S_ISDIR(os.fstat(source).st_mode)
        target = _resolve_target(root_fd, mount["target"], is_dir)
        try:
            sc.mount(_fd_path(source), _fd_path(target), None, sc.MS_BIND | sc.MS_REC)
        finally:
            os.close(target)
    finally:
        os.close(source)
    if readonly:
        # A bind mount takes its flags only on a remount of the new mount,
        # found again the safe way (the old fd names what lies beneath it).
        top = sc.open_in_root(root_fd, mount["target"])
        try:
            sc.mount(None, _fd_path(top), None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC)
        finally:
            os.close(top)


def mount_all(root: str, mounts: list) -> None:
    """Mount ``mounts`` (dicts: type bind|tmpfs, source, target, readonly,
    subpath, options) under ``root``, parents before children."""
    if not mounts:
        return
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for mount in sorted(mounts, key=lambda m: m["target"].rstrip("/").count("/")):
            try:
                _mount_one(root_fd, mount)
            except OSError as e:
                raise OSError(e.errno, f"volume {mount.get('source') or mount['type']} on "
                                       f"{mount['target']}: {e.strerror or e}") from None
    finally:
        os.close(root_fd)
