"""The node process (`python -m minipod.node`): one per host, holding the
agent's lock for its whole life. It runs the node agent's event loop
(minipod.roles.agent.loop.Agent: one reconcile pass per wake-up) and, after
the first pass, serves minipod commands on its socket (minipod.node.serve),
each in a worker forked from it.

What wakes it, never a polling interval:
- inotify on the object store (every write bumps its revision counter),
  on the container and pod record directories (made or removed), and on
  the wake file (agent.poke());
- a pidfd per watched process (a container with a restart policy, the
  pause of a pod made from a Pod object): readable when it exits;
- a timer: the earliest back-off or retry that is due;
- SIGTERM/SIGINT through the wakeup fd: stop;
- the serve thread finding minipod's source changed: a successor with the
  new code takes over (SUCCESSOR_ENV).
"""

import os
import resource
import select
import signal
import time
import traceback

from minipod import fsutil, paths, state
from minipod.core import removal
from minipod.node import serve
from minipod.node.inotify import CHANGES, IN_MODIFY, Inotify
from minipod.objects import store
from minipod.roles.agent import DAEMON, pid_path, problems, wake_path
from minipod.roles.agent.loop import RETRY_BASE, Agent, log

SUCCESSOR_ENV = "MINIPOD_AGENT_SUCCEEDS"  # set for an agent started by the one it replaces


def _watch_dirs(ino) -> None:
    wake = wake_path()
    wake.touch()
    ino.watch(wake, IN_MODIFY)  # agent.poke()
    store.root().mkdir(parents=True, exist_ok=True)
    ino.watch(store.root(), CHANGES | IN_MODIFY)  # the revision counter is written in place
    for d in (paths.containers_dir(), paths.pods_dir()):
        d.mkdir(parents=True, exist_ok=True)
        ino.watch(d)


def _sweep_half_written() -> None:
    """What a SIGKILL in the middle of saving a record leaves, which no
    record names: write_json's temp files (killed between create and
    rename), and a pod's or container's directory made for a first record
    that was never renamed into place. The next agent removes them; a
    directory whose object lock is held is someone's record being made."""
    for top in (paths.cni_cache_dir(), paths.containers_dir(), paths.pods_dir()):
        for tmp in state.stale_temp_files(top):
            tmp.unlink(missing_ok=True)
    for kind, top in (("container", paths.containers_dir()), ("pod", paths.pods_dir())):
        for d in top.iterdir() if top.is_dir() else ():
            if d.is_dir() and not (d / state.RECORD).exists() and not state.is_locked(kind, d.name):
                fsutil.rmtree(d, ignore_errors=True)


def main() -> int:
    successor = os.environ.pop(SUCCESSOR_ENV, None)
    if not (serve.wait_for_handover(DAEMON.take_lock) if successor else DAEMON.take_lock()):
        return 0  # another agent holds the lock: it does the job
    DAEMON.write_info({})  # its pid: ready (commands go through it once its socket is there)
    state.cache_records()  # every pass reads every pod and container record, several times
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a pidfd per process it watches
    stopping = []
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def stale():  # the node's thread found minipod's source changed: a new agent takes over
        stopping.append("handover")
        os.write(wake_w, b"h")

    node = serve.Server(log, stale)
    ino = Inotify()
    _watch_dirs(ino)
    poller = select.poll()
    poller.register(ino.fd, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    _sweep_half_written()
    problems.path().unlink(missing_ok=True)  # a stopped agent's: this one's passes say what fails now
    for name in removal.finish_abandoned():  # a `run --rm` whose teardown was cut
        log(f"finished removing pod {name} (its remover died half-way)")
    agent = Agent()
    limits = agent.limits
    log(f"agent started (pid {os.getpid()}, back-off {limits[0]:g}s doubling to {limits[1]:g}s)")
    while not stopping:
        try:
            next_at = agent.reconcile()
            agent.update_watches(poller)
        except Exception:  # one bad pass must not end the agent: log it, try again soon
            log("reconcile failed:\n" + traceback.format_exc())
            next_at = time.time() + RETRY_BASE
        if node.listener is None:  # after the first pass (what the node needs first), not before it
            node.preload()
            node.start()  # commands are served from now on
        timeout = 0 if agent.rerun else None if next_at is None else max(0, int((next_at - time.time()) * 1000) + 1)
        events = poller.poll(timeout)
        for fd, _ev in events:
            if fd == ino.fd:
                ino.drain()
            elif fd == wake_r:
                while True:
                    try:
                        os.read(wake_r, 64)
                    except BlockingIOError:
                        break
            elif fd in agent.pidfds:
                key = agent.pidfds.pop(fd)
                agent.watched.pop(key, None)
                poller.unregister(fd)
                os.close(fd)
        if events:
            time.sleep(0.01)  # let a burst of writes land: one pass for all of them
            ino.drain()
    node.stop()
    log("agent stopping (containers keep running)")
    for fd in agent.pidfds:
        os.close(fd)
    pid_path().unlink(missing_ok=True)  # the rules stay: services keep working without the agent
    if "handover" in stopping:
        _start_successor()
    return 0


def _start_successor() -> None:
    """A new agent, with the new code, which takes the lock when this one lets go."""
    DAEMON.spawn(env={**os.environ, SUCCESSOR_ENV: str(os.getpid())})
