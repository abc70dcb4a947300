"""No process that minipod starts in the background (the node process, its
workers, containers, pause, consoles, log writers, removers, the API and
CRI servers) keeps a descriptor of the command that started it.

A caller that reads a command's output through a pipe (`minipod get pods |
grep web`, `$(minipod ps -q)`, a test's subprocess) waits for the end of
that pipe, not for the command's exit: a background process that kept the
pipe open would hang the caller for as long as it lives. Each command runs
here with stdout and stderr on pipes and one more pipe passed down (as a
shell's `3>file` would), and each pipe must end within a few seconds of
the command's exit.
"""

import os
import subprocess
import threading
import time

import pytest

from tests.conftest import REPO, TEST_ENV
from tests.integration.conftest import MP, mp, settle, wait_for

EOF_WITHIN = 5.0  # seconds after the command's exit; a held pipe ends only when its holder does

CRASHLOOP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: flappy
spec:
  replicas: 2
  selector:
    matchLabels: {app: flappy}
  template:
    metadata:
      labels: {app: flappy}
    spec:
      containers:
      - name: flap
        image: busybox
        command: ["sh", "-c", "sleep 0.3; exit 1"]
"""


def _holders(inode: int) -> list:
    """The processes that hold pipe ``inode`` open: pid and command line."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue  # this test reads them
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"pipe:[{inode}]":
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{pid} {cmdline[:120]}")
                    break
        except OSError:
            continue
    return found


def command(*args, env=None, timeout=120):
    """Run `minipod ARGS` with stdout and stderr on pipes and a third pipe
    on fd 3; return its exit code and output once every pipe has ended,
    failing if one stays open EOF_WITHIN seconds past the exit."""
    extra_r, extra_w = os.pipe()
    proc = subprocess.Popen(MP + [str(a) for a in args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, pass_fds=[extra_w], cwd=REPO,
                            env={**os.environ, **TEST_ENV, **(env or {})})
    os.close(extra_w)
    pipes = {"stdout": proc.stdout.fileno(), "stderr": proc.stderr.fileno(), "fd 3": extra_r}
    inodes = {name: os.fstat(fd).st_ino for name, fd in pipes.items()}
    data, ended = {}, {}

    def drain(name, fd):
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        data[name] = b"".join(chunks).decode(errors="replace")
        ended[name] = time.monotonic()

    threads = [threading.Thread(target=drain, args=item, daemon=True) for item in pipes.items()]
    for t in threads:
        t.start()
    try:
        code = proc.wait(timeout=timeout)
        exited = time.monotonic()
        for t in threads:
            t.join(max(0.0, exited + EOF_WITHIN - time.monotonic()))
        held = {name: _holders(inodes[name]) for name in pipes if name not in ended}
        assert not held, f"minipod {' '.join(map(str, args))} exited {code}, but {EOF_WITHIN:g} s later " \
                         f"these pipes were still held open by: {held}"
    finally:
        os.close(extra_r)  # a drain thread still reading gets EBADF and ends
        proc.stdout.close()
        proc.stderr.close()
    return code, data["stdout"], data["stderr"]


def ok(*args, env=None):
    code, out, err = command(*args, env=env)
    assert code == 0, f"minipod {' '.join(args)} exited {code}: {err}"
    return out


@pytest.fixture(params=["local", "node"])
def way(request):
    """In the client's own process (MINIPOD_LOCAL=1, no node process), or
    the way a user's commands go: the first starts the node process in the
    background, the next run in its workers."""
    return {"MINIPOD_LOCAL": "1"} if request.param == "local" else {}


def test_no_background_process_keeps_the_callers_pipes(way, tmp_path):
    ok("run", "-d", "--name", "fd-a", "busybox", "sleep", "300", env=way)  # the node process starts here
    if not way:  # the next commands go through it
        wait_for(lambda: os.path.exists(os.path.join(TEST_ENV["MINIPOD_ROOT"], "run", "agent", "node.sock")),
                 timeout=30, what="the node process to serve")
    ok("run", "-d", "-t", "--name", "fd-t", "busybox", "sleep", "300", env=way)  # a console holds the terminal
    assert ok("run", "--rm", "busybox", "echo", "hi", env=way) == "hi\n"  # its teardown goes on after the exit
    ok("run", "-d", "--restart", "always", "--name", "fd-r", "busybox", "sleep", "300", env=way)
    ok("stop", "-t", "1", "fd-a", env=way)
    ok("start", "fd-a", env=way)
    ok("restart", "-t", "1", "fd-a", env=way)
    ok("pod", "create", "--name", "fd-p", env=way)
    ok("pod", "rm", "-f", "fd-p", env=way)  # the teardown goes on after the exit
    ok("rm", "-f", "fd-a", "fd-t", "fd-r", env=way)
    settle()


def test_reading_pods_while_the_node_process_restarts_containers(tmp_path):
    """The case that hung a test: `get pods -o wide` through the node
    process while it (re)started containers of a crash-looping Deployment."""
    manifest = tmp_path / "flappy.yaml"
    manifest.write_text(CRASHLOOP)
    ok("apply", "-f", manifest)
    wait_for(lambda: "CrashLoopBackOff" in mp("get", "pods").stdout or "Error" in mp("get", "pods").stdout,
             timeout=60, what="the containers to crash")
    deadline = time.monotonic() + 15
    rounds = 0
    while time.monotonic() < deadline:
        assert "flappy-" in ok("get", "pods", "-o", "wide")
        rounds += 1
    assert rounds >= 10
    ok("delete", "-f", manifest)
    settle()


@pytest.mark.parametrize("server", ["api", "cri"])
def test_the_servers_keep_none_of_the_callers_pipes(server):
    ok(server, "start")
    assert ok(server, "status").startswith("running")
    ok(server, "stop")
