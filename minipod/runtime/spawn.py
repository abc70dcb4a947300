"""Start a process inside a pod: a new container, or an exec into one.

The parent and the child talk over a SOCK_SEQPACKET socketpair, one JSON
message per packet (after runc's libcontainer/sync.go). The child's end is
close-on-exec, so a successful exec shows up as end-of-file:

  new container (run)

  parent                A: setns(ipc,uts,net,pid)  B (pod PID ns)   C = container
    | fork ------------> | fork ---------------->   | fork ------->  |
    |                    | waitpid(B) <----------   _exit(0)         | (re-parented to pause,
    | waitpid(A) <------ _exit(0)                                    |  which logs its exit code)
    | <------------------------------------------------------------- {"pid", "nspid", "start"}
    |                                                                unshare(mnt), overlay,
    |                                                                /proc, /dev, masks, pivot_root
    | <------------------------------------------------------------- {"tty": true} + master fd
    |                                                                user, capabilities, no_new_privs
    | <------------------------------------------------------------- EOF (exec worked), or
    |                                                                {"exec_error": errno, "msg"}

  exec into a container: A joins all five namespaces of the container's
  process (mnt last), forks B and waits for it, and exits with B's status;
  A sends B's host pid, B sends the tty fd and exec errors as above.

B exists because an orphan is adopted by the init of its *parent's* PID
namespace: C's parent must itself live in the pod for pause to adopt C.
"""

import errno
import fcntl
import json
import os
import socket
import termios

from minipod.errors import CommandNotExecutable, CommandNotFound, ContainerStartError
from minipod import procfs
from minipod.runtime import caps, cgroup, seccomp, syscalls

SHARED_NS = ("ipc", "uts", "net", "pid")


def _send(sock, msg, fds=()):
    data = json.dumps(msg).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def _child_fail(sock, message):
    try:
        _send(sock, {"error": message})
    finally:
        os._exit(1)


def _setup_stdio(sock, proc):
    """Wire fds 0-2: a new pty from the container's own devpts (master sent
    to the parent), or the fds the parent handed over."""
    if proc.get("tty"):
        master, slave = os.openpty()
        _send(sock, {"tty": True}, [master])
        os.close(master)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for target in (0, 1, 2):
            os.dup2(slave, target)
        if slave > 2:
            os.close(slave)
    else:
        for target, fd in enumerate(proc["stdio"]):
            os.dup2(fd, target)
    syscalls.close_on_exec_from(3)  # the command gets 0-2 and nothing else of ours or our callers'


def _default_signals():
    """Every signal's default disposition and none blocked, as a container
    gets from runc: an ignored disposition survives exec, and ours are not
    the container's (Python ignores SIGPIPE and SIGXFSZ; a shell's
    background job ignores SIGINT and SIGQUIT, so `trap ... INT` and ^C
    would do nothing in the container)."""
    import signal
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass  # the few the kernel reserves (32, 33 for the C library's threads)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _become_user_and_exec(sock, proc):
    """Last steps before exec, in the order the kernel requires: bounding set
    while still root, then ids, then the remaining capability sets. Without
    no_new_privs (the CRI's allowPrivilegeEscalation), the seccomp filter
    goes in while still root: installing it needs no_new_privs or CAP_SYS_ADMIN."""
    keep = set(proc["caps"])
    no_new_privs = proc.get("no_new_privs", True)
    # While every capability minipod has is still here (lowering needs CAP_SYS_RESOURCE).
    procfs.set_own_oom_score_adj(proc.get("oom_score_adj", 0))
    caps.drop_bounding(keep)
    if proc.get("seccomp") and not no_new_privs:
        _install_seccomp(sock, proc["seccomp"])
    uid, gid = proc.get("uid", 0), proc.get("gid", 0)
    os.setgroups(list(proc.get("groups") or []))
    os.setgid(gid)
    os.setuid(uid)
    caps.limit_sets(keep if uid == 0 else set(), no_new_privs=no_new_privs)
    try:
        os.chdir(proc.get("cwd") or "/")
    except OSError as e:
        _child_fail(sock, f"cannot change to working directory {proc.get('cwd')!r}: {e.strerror}")
    if proc.get("seccomp") and no_new_privs:
        # Last, after no_new_privs: from here on only the profile's syscalls work.
        _install_seccomp(sock, proc["seccomp"])
    env = proc["env"]
    argv = proc["argv"]
    _default_signals()
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        _send(sock, {"exec_error": e.errno, "msg": f"{argv[0]}: {e.strerror}"})
        os._exit(127 if e.errno == errno.ENOENT else 126)


def _install_seccomp(sock, program: bytes) -> None:
    try:
        seccomp.install(program)
    except OSError as e:
        _child_fail(sock, f"cannot install the seccomp filter: {e.strerror}")


def _container_main(sock, proc, rootfs_spec):
    """Runs in C: build the rootfs, then exec the command."""
    from minipod.runtime import rootfs
    try:
        me = procfs.self_identity()
        # the pid pause (or, on the host's PID namespace, its monitor) logs the exit under:
        # one level up when the container has a PID namespace of its own
        me["nspid"] = procfs.ns_pids()[-2 if proc.get("pid_mode") == "container" else -1]
        _send(sock, me)
        syscalls.unshare(syscalls.CLONE_NEWNS)
        rootfs.setup(rootfs_spec)
        _setup_stdio(sock, proc)
    except Exception as e:
        _child_fail(sock, f"container setup failed: {e}")
    _become_user_and_exec(sock, proc)


def _fork_into(ns_pid, kinds, child, cgroup_path=None, report=None):
    """Fork A, join ``cgroup_path`` (while the host's /sys/fs/cgroup is
    still in reach) and ``kinds`` namespaces of ``ns_pid``, and run child()
    there; everything A forks inherits the cgroup. A failure is given to
    ``report(text)`` (the parent raises it: one line), else to stderr."""
    a = os.fork()
    if a != 0:
        return a
    try:
        if cgroup_path:
            cgroup.join(cgroup_path)
        try:
            fds = [(os.open(f"/proc/{ns_pid}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC), k) for k in kinds]
        except FileNotFoundError:
            raise ContainerStartError(f"the pod's pause (pid {ns_pid}) is gone: its namespaces cannot be joined") \
                from None
        for fd, k in fds:
            syscalls.setns(fd, syscalls.NS_FLAGS[k])
            os.close(fd)
        child()
    except BaseException as e:  # report whatever happened, never return
        try:
            if report is not None:
                report(str(e))
            else:
                os.write(2, f"minipod: {e}\n".encode())
        finally:
            os._exit(125)
    os._exit(0)


def _receive(sock, result):
    """Read messages until EOF; fill ``result`` (pid, tty fd, errors)."""
    while True:
        data, fds, _flags, _addr = socket.recv_fds(sock, 65536, 4)
        if not data:
            return result
        msg = json.loads(data)
        if "pid" in msg:
            result["pid"] = msg["pid"]
        if msg.get("tty") and fds:
            result["master"] = fds[0]
        if "exec_error" in msg:
            exc = CommandNotFound if msg["exec_error"] == errno.ENOENT else CommandNotExecutable
            raise exc(f"cannot run {msg['msg']}")
        if "error" in msg:
            raise ContainerStartError(msg["error"])


def start_container(pause_pid: int, proc: dict, rootfs_spec: dict, on_pid=None) -> dict:
    """Start a container in the pod of ``pause_pid``; returns {"pid", "master"}.

    ``proc``: argv, env, cwd, uid, gid, caps, tty, stdio (three fds),
    cgroup (path to run in), seccomp (compiled filter, or None).
    ``on_pid(pid, nspid, start)`` is called as soon as the container's
    identity is known, so the caller can record it before setup finishes
    (cleanup must be able to kill it; pause's exit log names the nspid).
    """
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    mode = proc.get("pid_mode", "pod")

    def run_b():
        if os.fork() == 0:
            if mode == "container":  # C is PID 1 of a namespace of its own, nested in the pod's
                syscalls.unshare(syscalls.CLONE_NEWPID)
            elif mode == "host" and os.fork() != 0:
                os._exit(0)  # B's child stays as C's monitor (no pause adopts C on the host)
            c = os.fork()
            if c == 0:
                parent.close()
                _container_main(child, proc, rootfs_spec)
            if mode == "host":
                _monitor(c, proc["exits_log"], (parent, child))
            os._exit(0)
        os.wait()

    a = _fork_into(pause_pid, SHARED_NS, run_b, proc.get("cgroup"), report=lambda text: _send(child, {"error": text}))
    child.close()
    result = {}
    try:
        os.waitpid(a, 0)
        first, fds, _f, _a = socket.recv_fds(parent, 65536, 4)
        if not first:
            raise ContainerStartError("the container process exited before it started")
        msg = json.loads(first)
        if "error" in msg:
            raise ContainerStartError(msg["error"])
        result["pid"] = msg["pid"]
        if on_pid:
            on_pid(msg["pid"], msg["nspid"], msg["start"])
        return _receive(parent, result)
    except BaseException:
        if "master" in result:
            os.close(result["master"])
        if "pid" in result:
            _kill_quietly(result["pid"])
        raise
    finally:
        parent.close()


def _monitor(pid: int, exits_log: str, close) -> None:
    """What pause does for a container in the pod's PID namespace, for one
    on the host's: wait for it, log "PID CODE TIME" to the pod's exit log."""
    import time
    for sock in close:
        sock.close()
    syscalls.close_from(3)  # it outlives its caller: it holds none of the caller's descriptors
    _, status = os.waitpid(pid, 0)
    fd = os.open(exits_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, f"{pid} {procfs.exit_code(status)} {time.time():.3f}\n".encode())
    os._exit(0)


def exec_in(target_pid: int, proc: dict):
    """Run a command in all namespaces of ``target_pid``.

    Returns (a_pid, info): wait for ``a_pid`` with os.waitpid; its exit
    status is the command's. info has "pid" (host pid of the command) and
    "master" (with a tty).
    """
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    def run_b():
        b = os.fork()
        if b == 0:
            parent.close()
            try:
                _setup_stdio(child, proc)
            except Exception as e:
                _child_fail(child, f"exec setup failed: {e}")
            _become_user_and_exec(child, proc)
        _send(child, {"pid": b})
        child.close()
        parent.close()
        _, status = os.waitpid(b, 0)
        os._exit(procfs.exit_code(status))

    a = _fork_into(target_pid, SHARED_NS + ("mnt",), run_b, proc.get("cgroup"))
    child.close()
    result = {}
    try:
        _receive(parent, result)
    except BaseException:
        if "master" in result:
            os.close(result["master"])
        os.waitpid(a, 0)
        raise
    finally:
        parent.close()
    return a, result


def _kill_quietly(pid):
    try:
        os.kill(pid, 9)
    except OSError:
        pass
