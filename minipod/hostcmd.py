"""Run a host command (a CNI plugin, iptables, nft, conntrack …) with a
time limit that really ends it.

``subprocess.run(timeout=…)`` kills only the process it started, then
waits for its pipes to close: a plugin that is a shell script, or that
forked a helper, leaves a grandchild holding stdout and the wait never ends
(a hung DEL would wedge `gc`, a pod's teardown or the agent). Here the
command runs in a session of its own, and on timeout the whole process
group is killed before the pipes are read to their end.
"""

import os
import signal
import subprocess


def command_timeout() -> float:
    """The limit of one host command of the node's long-lived processes
    (MINIPOD_COMMAND_TIMEOUT, 30 s: iptables waits 5 s for its lock);
    read when used, a worker has its caller's environment."""
    try:
        return float(os.environ.get("MINIPOD_COMMAND_TIMEOUT", "30"))
    except ValueError:
        return 30.0


class Timeout(OSError):
    """The command ran past its limit and was killed with its process group."""

    def __init__(self, argv, limit: float):
        super().__init__(f"{os.path.basename(str(argv[0]))} timed out after {limit:g}s (killed)")
        self.argv, self.limit = argv, limit


def run(argv, *, input: bytes = None, timeout: float, env: dict = None, text: bool = False,
        cwd: str = None) -> subprocess.CompletedProcess:
    """Run ``argv`` with stdin ``input`` (or /dev/null), capturing stdout
    and stderr; Timeout after ``timeout`` seconds, the group killed.
    OSError (not found, not executable) as subprocess raises it."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                            start_new_session=True, close_fds=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()  # every holder of the pipes is gone now
        raise Timeout(argv, timeout) from None
    except BaseException:
        _kill_group(proc.pid)
        proc.communicate()
        raise
    if text:
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
