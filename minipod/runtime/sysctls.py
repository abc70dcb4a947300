"""A pod's sysctls (the CRI's, Kubernetes' spec.securityContext.sysctls),
set in the pod's own namespaces, never the host's. Only sysctls the kernel
keeps per namespace are accepted, as runc accepts them: kernel.shm*,
kernel.msg*, kernel.sem and fs.mqueue.* (IPC namespace), net.* (network
namespace); and none of a namespace the pod shares with the host."""

import os

from minipod.errors import InvalidArgument, MinipodError
from minipod.runtime import syscalls

IPC = ("kernel.shmmax", "kernel.shmall", "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.msgmax",
       "kernel.msgmni", "kernel.msgmnb", "kernel.sem")


def namespace_of(name: str):
    """"ipc", "net", or None when the kernel keeps ``name`` for the whole host."""
    if name in IPC or name.startswith("fs.mqueue."):
        return "ipc"
    if name.startswith("net."):
        return "net"
    return None


def check(sysctls: dict, host_net: bool = False, host_ipc: bool = False) -> dict:
    """``sysctls`` if every one can be set in the pod's own namespaces;
    otherwise InvalidArgument naming the first that cannot."""
    for name, value in sysctls.items():
        kind = namespace_of(name)
        if kind is None or any(not part or part in (".", "..") or "/" in part for part in name.split(".")):
            raise InvalidArgument(f"sysctl {name!r} is not kept per namespace: it would change the host")
        if (kind == "net" and host_net) or (kind == "ipc" and host_ipc):
            raise InvalidArgument(f"sysctl {name!r}: the pod shares the host's {kind} namespace")
        if "\n" in str(value):
            raise InvalidArgument(f"sysctl {name!r}: a value is one line")
    return dict(sysctls)


def apply(pause_pid: int, sysctls: dict) -> None:
    """Write each sysctl from a child joined to the pod's namespaces (the
    kernel resolves /proc/sys by the writer's namespaces)."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        current = "the pod's namespaces"
        try:
            for kind in ("ipc", "net"):
                if any(namespace_of(n) == kind for n in sysctls):
                    fd = os.open(f"/proc/{pause_pid}/ns/{kind}", os.O_RDONLY)
                    syscalls.setns(fd, syscalls.NS_FLAGS[kind])
                    os.close(fd)
            for current, value in sysctls.items():
                with open("/proc/sys/" + current.replace(".", "/"), "w") as f:
                    f.write(str(value))
            os._exit(0)
        except OSError as e:
            os.write(w, f"{current}: {e.strerror or e}".encode())
        except BaseException as e:  # noqa: BLE001  (said by the parent)
            os.write(w, str(e).encode())
        os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        message = f.read().decode(errors="replace")
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise MinipodError(f"cannot set the pod's sysctls: {message or 'failed'}")
