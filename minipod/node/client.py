"""The `minipod` command: a thin client of the node process.

The node process (the agent, minipod.roles.agent) has click and all of minipod
imported already. When it runs, this client connects to its socket and
hands over what makes up the command: its arguments, environment, umask
and resource limits; the node process forks a worker, which sends its pid;
then the client sends its go with its working directory and its stdin,
stdout and stderr themselves (SCM_RIGHTS), so a terminal, a pipe or a file
is the very same one the command would have had (and none of them waits in
the socket of a node process that is not reading). The worker runs the
command exactly as the CLI would (minipod.node.worker); this client
relays the signals it receives to that worker and exits with the worker's
exit code (or dies of the signal the worker died of).

When no node process answers (not started, another mount or network
namespace than the caller's, code changed under it, not root), or one
accepts the connection but no worker of it takes the command within
NODE_WAIT seconds (a stopped or wedged agent), the command runs here, in
this process, as it always did (`run`, `start`, `pod create`
and `pod start` then start the node process in the background once they
have made something: minipod.roles.agent.start_soon). MINIPOD_LOCAL=1 always runs
here and starts no node process.

This module is the whole hot path of a command: the interpreter starts with
-S (scripts/setup writes the launcher) and this module imports only what
the interpreter has built in. ``socket`` and ``signal`` would import enum
and more (~3 ms): their C halves, ``_socket`` and ``_signal``, do the job.
"""

import _signal
import _socket
import marshal
import os
import sys

PROTOCOL = 2  # 2: the caller's descriptors and go (b"G") follow the worker's pid; it runs only then
NODE_WAIT = 3.0  # seconds a node process has to take a command before the client runs it itself
LOCAL_VERBS = {"agent"}  # the node process's own management: never through itself
GLOBAL_OPTIONS = {"--cni-conf-dir", "--cni-path"}  # the group's options, which take a value
# Every signal the command would act on is the worker's to act on (SIGWINCH
# too: `run -t` resizes the container's terminal from the worker).
RELAYED = [_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1,
           _signal.SIGUSR2, _signal.SIGWINCH, _signal.SIGALRM]
RLIMITS = ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_NOFILE",
           "RLIMIT_NPROC", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
           "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME")


def socket_path(environ=os.environ) -> str:
    """The node process's socket: <run root>/agent/node.sock, the run root
    as minipod.paths.run_root() computes it (without importing pathlib)."""
    base = environ.get("MINIPOD_ROOT")
    run_root = environ.get("MINIPOD_RUN_ROOT") or (f"{base}/run" if base else "/run/minipod")
    return os.path.join(run_root, "agent", "node.sock")


def verb(argv) -> tuple:
    """The command's verb and sub-verb (("pod", "create")), past the group's options."""
    words = []
    i = 0
    while i < len(argv) and len(words) < 2:
        arg = argv[i]
        if arg in GLOBAL_OPTIONS:
            i += 2
            continue
        if arg.startswith("-"):
            if words:
                break
            i += 1
            continue
        words.append(arg)
        i += 1
    return tuple(words)


def main():
    argv = sys.argv[1:]
    words = verb(argv)
    if os.environ.get("MINIPOD_LOCAL") != "1" and not (words and words[0] in LOCAL_VERBS):
        _std_fds()
        code = _through_node(argv)
        if code is not None:
            return code
    return _local()


def _local():
    """The full CLI in this process."""
    if sys.flags.no_site:
        import site  # the launcher ran with -S: the venv's packages (click ...) come in now
        site.main()
    from minipod.cli import main as cli_main
    return cli_main()


def _std_fds():
    """/dev/null on any of fds 0-2 that is closed (CI may start us with no
    stdin): they are what the command gets."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open("/dev/null", os.O_RDWR)  # takes the lowest free number: fd


def _request(argv) -> bytes:
    import resource  # a small C module
    mask = os.umask(0)
    os.umask(mask)
    limits = {}
    for name in RLIMITS:
        number = getattr(resource, name, None)
        if number is not None:
            limits[number] = resource.getrlimit(number)
    streams = [(s.encoding, s.errors) if s is not None else None for s in (sys.stdin, sys.stdout, sys.stderr)]
    return marshal.dumps({"protocol": PROTOCOL, "argv": argv, "env": dict(os.environ), "umask": mask,
                          "rlimits": limits, "streams": streams})


def node_wait(environ=os.environ) -> float:
    try:
        return float(environ.get("MINIPOD_NODE_WAIT", NODE_WAIT))
    except ValueError:
        return NODE_WAIT


def _through_node(argv):
    """Run the command in the node process; its exit code, or None when
    the node process does not take it (then the command runs here)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(node_wait())  # a full backlog, a stopped agent: never wait on it for long
    try:
        sock.connect(socket_path())
    except OSError:
        sock.close()
        return None
    try:
        body = _request(argv)
        sock.sendall(len(body).to_bytes(4, "big") + body)
    except OSError:
        sock.close()
        return None
    return _wait(sock)


def _go(sock) -> None:
    """Our go to the worker, with our stdin, stdout, stderr and working
    directory: only now, when a worker is there to take them."""
    cwd = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2, cwd))
        sock.sendmsg([b"G"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    finally:
        os.close(cwd)


def _wait(sock):
    """Relay signals to the worker until it reports its exit."""
    worker = []

    def relay(sig, frame):
        if worker:
            try:
                os.kill(worker[0], sig)
            except ProcessLookupError:
                pass

    previous = {sig: _signal.signal(sig, relay) for sig in RELAYED}

    def run_here():  # the command runs in this process after all: its signals are its own again
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
        return None
    buf = b""
    while True:
        try:
            chunk = sock.recv(64)
        except TimeoutError:  # no worker took it in time: the worker, if it ever comes, gets no go
            sock.close()
            sys.stderr.write(f"minipod: the node process did not take the command within {node_wait():g} s; "
                             "running it here (see `minipod agent status`)\n")
            return run_here()
        except OSError:
            chunk = b""
        if not chunk:
            if not worker:  # refused before a worker existed: nothing ran, run it here
                return run_here()
            sys.stderr.write("minipod: the node process ended without an exit code (see `minipod agent logs`)\n")
            return 125
        buf += chunk
        while len(buf) >= 5:
            kind, value = buf[:1], int.from_bytes(buf[1:5], "big", signed=True)
            buf = buf[5:]
            if kind == b"L":  # the node process says: run it here
                return run_here()
            if kind == b"P":
                worker.append(value)
                sock.settimeout(None)  # the command may last days
                try:
                    _go(sock)  # the worker runs it from now on, not before: never twice
                except OSError:
                    pass  # the node process is gone: the EOF that follows says so
            elif kind == b"X":
                return value
            elif kind == b"S":  # the worker died of a signal: so does this command
                for sig, handler in previous.items():
                    _signal.signal(sig, handler)
                try:
                    _signal.signal(value, _signal.SIG_DFL)
                except (OSError, ValueError):
                    pass  # SIGKILL: no handler to reset
                os.kill(os.getpid(), value)
                return 128 + value  # a signal whose default is to be ignored
