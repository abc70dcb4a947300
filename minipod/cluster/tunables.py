"""The host sysctls a node's kubelet and kube-proxy change (setupKernelTunables:
vm.overcommit_memory, kernel.panic …; route_localnet), and putting them back
when the node leaves.

Those under net/ belong to the node's network namespace: each node keeps
its own values before it joined. The others are the kernel's, shared by
every node on the host (the one-host layout runs several): the values the
host had before the first node changed them are kept in one host-wide
ledger (/run/minipod-host-tunables.json, there only while a node holds
them) with the nodes holding them, and
put back when the last of those nodes leaves. A per-node copy would give
the second node the first one's kubelet values as "the host's", and
whichever node left last would leave them behind.
"""

import contextlib
import fcntl
import json
import os

TUNABLES = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
            "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/conf/all/route_localnet")
LEDGER = "/run/minipod-host-tunables.json"


def _path(name: str) -> str:
    return f"/proc/sys/{name}"


def snapshot(names=TUNABLES) -> dict:
    out = {}
    for name in names:
        try:
            with open(_path(name)) as f:
                out[name] = f.read().strip()
        except OSError:
            pass
    return out


def restore(saved: dict) -> None:
    for name, value in saved.items():
        try:
            with open(_path(name), "w") as f:
                f.write(value)
        except OSError:
            pass


def per_namespace() -> tuple:
    return tuple(n for n in TUNABLES if n.startswith("net/"))


def kernel_wide() -> tuple:
    return tuple(n for n in TUNABLES if not n.startswith("net/"))


@contextlib.contextmanager
def _ledger():
    """The ledger, read and written under its own flock; removed (nothing
    left behind in /run) when no node holds the values any more."""
    while True:
        fd = os.open(LEDGER, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(LEDGER).st_ino:
                break  # the file that is there now, not one its last holder removed while we waited
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        with os.fdopen(os.dup(fd), "r+") as f:
            try:
                data = json.load(f)
            except ValueError:  # new (empty), or half-written by a killed writer
                data = {"saved": {}, "nodes": []}
            yield data
            if data["nodes"]:
                f.seek(0)
                f.truncate()
                json.dump(data, f)
            else:
                os.unlink(LEDGER)
    finally:
        os.close(fd)


def hold(node: str) -> dict:
    """Before ``node``'s kubelet starts: the kernel-wide values saved if no
    node holds them yet, ``node`` added to the holders; returns the node's
    own (per-namespace) values, to put back with release()."""
    with _ledger() as data:
        if not data["nodes"]:
            data["saved"] = snapshot(kernel_wide())
        if node not in data["nodes"]:
            data["nodes"].append(node)
    return snapshot(per_namespace())


def release(node: str, own: dict) -> None:
    """``node`` leaves: its own values back; the kernel-wide ones too when
    it was the last node holding them."""
    restore(own)
    with _ledger() as data:
        if node in data["nodes"]:
            data["nodes"].remove(node)
            if not data["nodes"]:
                restore(data["saved"])
