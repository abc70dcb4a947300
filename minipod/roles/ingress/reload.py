"""A graceful nginx reload that returns once the new configuration serves.

SIGHUP makes nginx's master read the configuration, start new workers and
ask the old ones to quit; an old worker closes its listening sockets when
it gets that (and renames itself "worker process is shutting down"), and
until then it still accepts connections, with the old configuration. So
for a few milliseconds after the signal, a new connection may be served
by either: a request answered by the new configuration can be followed by
one answered by the old (measured: a 503 of the old upstreams right after
a 200 of the new). The agent's pass waits here until no worker of the old
configuration accepts, so that what it reports done (a pod Ready behind
an Ingress: kubelet/readiness.py) is what a request meets.
"""

import os
import signal
import time

from minipod import procfs

WORKER = b"nginx: worker process"  # the title nginx gives its accepting workers
SETTLE_TIMEOUT = 2.0  # a master that never starts new workers (its reload failed) is not waited for longer


def _workers(master: int) -> set:
    """The pids of ``master``'s children that are accepting workers now."""
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != master:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().rstrip(b"\0 ")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if title == WORKER:
            out.add(int(pid))
    return out


def reload(pid: int, started) -> bool:
    """SIGHUP the nginx master ``pid`` (if it is still the recorded one) and
    wait until its accepting workers are all new ones; False if it is gone
    or did not get there within SETTLE_TIMEOUT."""
    old = _workers(pid)
    if not procfs.send_signal(pid, started, signal.SIGHUP):
        return False
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        now = _workers(pid)
        if now and not now & old:
            return True
        time.sleep(0.005)
    return False
