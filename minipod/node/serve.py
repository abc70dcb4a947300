"""The node process's socket: minipod commands run in workers forked from
the agent, which has everything imported already (minipod.node.client is the
other side).

One thread of the agent accepts connections on <run root>/agent/node.sock
(root only: the socket is 0600 and the peer's uid is checked), so a long
reconcile pass never delays a command. For each command it checks that the
caller sees the same machine as the agent (the same mount, network, PID,
IPC, UTS, user and cgroup namespaces and the same root directory; a caller
in a pod's network namespace must not get the host's), forks a worker
(minipod.node.worker) and later reaps it through a pidfd; a worker killed
by a signal is reported to its client, which then dies of the same signal.

When minipod's own source changes under a running agent (an update, a
checkout), its workers would mix old and new code: the agent stops serving
at once (clients run their commands themselves) and hands over to a new
agent (loop.main).
"""

import importlib
import os
import select
import socket
import struct
import threading
import time

from minipod.roles.agent import socket_path
from minipod.node import worker as worker_main  # imported here, not in each forked worker
from minipod.node.inotify import CHANGES, IN_MODIFY, Inotify
from minipod.node.client import PROTOCOL  # the other side's

MAX_REQUEST = 1 << 20
REQUEST_TIMEOUT = 5.0  # a client sends its request at once; one that stalls is dropped
NAMESPACES = ("mnt", "net", "pid", "ipc", "uts", "user", "cgroup")
SOURCE_SUFFIXES = (".py", ".c", ".html")
# What the everyday commands import (measured with python -X importtime on
# run, ps, pod create/rm, get pods, exec, logs): in the agent once, shared by
# every worker it forks, instead of ~100 ms of imports per command.
PRELOAD = (
    "minipod.cli", "minipod.core.container", "minipod.core.pod", "minipod.cli.foreground", "minipod.printers.docker",
    "minipod.core.mounts", "minipod.etcfiles", "minipod.runtime.netns", "minipod.cni.network", "minipod.ops.gc",
    "minipod.core.volumes", "minipod.cni.runtime", "minipod.cni.leftovers", "minipod.image.pull",
    "minipod.image.layers", "minipod.runtime.spawn", "minipod.runtime.seccomp", "minipod.runtime.podns",
    "minipod.runtime.rootfs", "minipod.runtime.sysctls", "minipod.runtime.volumes", "minipod.runtime.cgroup.devices",
    "minipod.api.verbs", "minipod.api.printing", "minipod.printers.kubectl", "minipod.objects.defaults",
    "minipod.api.targets", "minipod.roles.kubelet.service_env", "minipod.roles.kubelet.pods",
    "minipod.objects.workloads", "minipod.objects.ingresses",
)


def source_dirs() -> list:
    """Every directory of the minipod package (where its code lives)."""
    import minipod
    top = os.path.dirname(minipod.__file__)
    return [d for d, _subdirs, _files in os.walk(top) if "__pycache__" not in d]


class Server:
    """The accepting thread and the workers it forked."""

    def __init__(self, log, on_stale):
        self.log = log
        self.on_stale = on_stale  # called once, when the source changed
        self.workers = {}  # pidfd -> (pid, connection)
        self.own_ns = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in NAMESPACES}
        root = os.stat("/")
        self.own_root = (root.st_dev, root.st_ino)
        self.listener = None
        self.source = Inotify()
        for d in source_dirs():
            self.source.watch(d, CHANGES | IN_MODIFY)
        self.stale = False

    def start(self) -> None:
        path = socket_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a socket a killed agent left
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)
        try:
            listener.bind(str(path))
        finally:
            os.umask(old)
        listener.listen(128)
        self.listener = listener
        threading.Thread(target=self._serve, name="node-socket", daemon=True).start()

    def preload(self) -> None:
        """Import what the commands need, before the first worker is forked
        (an import under way in another thread at a fork would stay locked
        in the worker: minipod.node.worker drops such modules)."""
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception as e:  # a missing optional piece: that command imports it itself, or fails there
                self.log(f"node: preloading {name} failed: {type(e).__name__}: {e}")

    def stop(self) -> None:
        """Stop accepting (workers already forked go on)."""
        if self.listener is not None:
            socket_path().unlink(missing_ok=True)
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------------ thread

    def _serve(self) -> None:
        poller = select.poll()
        poller.register(self.listener.fileno(), select.POLLIN)
        poller.register(self.source.fd, select.POLLIN)
        while True:
            for fd, events in poller.poll():
                if fd == self.listener.fileno():
                    if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                        return  # stop() shut it down
                    try:
                        conn, _ = self.listener.accept()
                    except OSError:
                        continue
                    pidfd = self._handle(conn)
                    if pidfd is not None:
                        poller.register(pidfd, select.POLLIN)
                elif fd == self.source.fd:
                    self._source_changed()
                elif fd in self.workers:
                    poller.unregister(fd)
                    self._reap(fd)

    def _source_changed(self) -> None:
        names = []
        for _wd, _mask, name in self.source.drain_events():
            names.append(name)
        if self.stale or not any(n.endswith(SOURCE_SUFFIXES) and not n.startswith(".") for n in names):
            return
        self.stale = True
        self.log("node: minipod's source changed: handing over to a new agent")
        self.stop()
        self.on_stale()

    def _refuse(self, conn, why: str = None) -> None:
        """The client runs the command itself."""
        if why:
            self.log(f"node: command run by its client: {why}")
        try:
            conn.sendall(b"L" + (0).to_bytes(4, "big"))
        except OSError:
            pass
        conn.close()

    def _handle(self, conn):
        """Check the caller, read its request, fork the worker; its pidfd.
        The caller's descriptors are not here: they go to the worker itself,
        with the client's go (minipod.node.worker)."""
        try:
            pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                 struct.calcsize("3i")))
            if uid != os.geteuid():
                return self._refuse(conn)  # minipod is root's: another user's command runs (and fails) as itself
            conn.settimeout(REQUEST_TIMEOUT)
            request = self._read_request(conn)
            if request is None or request.get("protocol") != PROTOCOL:
                return self._refuse(conn, "a request this agent cannot read")
            different = self._different_machine(pid)
            if different or self.stale:
                return self._refuse(conn, different)
            conn.settimeout(None)
            worker = os.fork()
            if worker == 0:
                worker_main.run(conn, request)  # never returns
        except (OSError, ValueError, EOFError, TypeError) as e:
            self.log(f"node: a command was dropped: {type(e).__name__}: {e}")
            conn.close()
            return None
        try:
            pidfd = os.pidfd_open(worker)
        except OSError:  # cannot watch it: reap it blind, as soon as it ends
            threading.Thread(target=os.waitpid, args=(worker, 0), daemon=True).start()
            conn.close()
            return None
        self.workers[pidfd] = (worker, conn)
        return pidfd

    @staticmethod
    def _read_request(conn):
        import marshal
        data = conn.recv(65536)
        if len(data) < 4:
            return None
        size = int.from_bytes(data[:4], "big")
        if size > MAX_REQUEST:
            return None
        body = data[4:]
        while len(body) < size:
            chunk = conn.recv(size - len(body))
            if not chunk:
                return None
            body += chunk
        return marshal.loads(body)

    def _different_machine(self, pid: int):
        """Why the caller does not see the machine the agent sees (None if it does)."""
        try:
            for ns in NAMESPACES:
                if os.readlink(f"/proc/{pid}/ns/{ns}") != self.own_ns[ns]:
                    return f"the caller is in another {ns} namespace"
            root = os.stat(f"/proc/{pid}/root")
        except OSError as e:
            return f"cannot read the caller's namespaces: {e}"
        if (root.st_dev, root.st_ino) != self.own_root:
            return "the caller has another root directory"
        return None

    def _reap(self, pidfd: int) -> None:
        pid, conn = self.workers.pop(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
        if os.WIFSIGNALED(status):  # it could not say its exit code: the client dies of the same signal
            try:
                conn.sendall(b"S" + os.WTERMSIG(status).to_bytes(4, "big"))
            except OSError:
                pass
        conn.close()


def wait_for_handover(take_lock, timeout: float = 10.0) -> bool:
    """A successor's lock: the agent it replaces lets go when it has stopped."""
    deadline = time.monotonic() + timeout
    while not take_lock():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
