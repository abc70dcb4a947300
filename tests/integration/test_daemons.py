"""minipod's server processes (minipod.daemons: the API and CRI servers)
as `… start` and `… status` see them: the one that runs is the process
named in the pidfile, alive, while the lock is held — never the pidfile
of a killed one whose zombie or pid lingers while a new one starts.

Run as `python -m tests.integration.test_daemons`, this file is a server
of that kind that takes a while to become ready (as the CRI server does
while it imports grpcio)."""

import os
import sys
import time
from pathlib import Path

# Not tests.conftest: the server process (python -m) must not make a test root of its own.
REPO = Path(__file__).resolve().parents[2]


def daemon():
    """The test server, under the test root (MINIPOD_ROOT, which the server inherits)."""
    from minipod import daemons
    root = Path(os.environ["MINIPOD_ROOT"])
    return daemons.Daemon("tests.integration.test_daemons", "the slow test server", lambda: root / "run" / "slow",
                          lambda: root / "lib" / "slow-daemon.log", ready_key="serving")


def test_a_killed_servers_pidfile_is_not_taken_for_the_new_one():
    """The CRI crash test's `cri start` returned while `cri status` said
    "not running": the killed server's pidfile named a pid that was still
    there (a zombie its parent had not reaped yet) and the lock was held —
    by the new server, still importing. Here the zombie is this test's own
    unreaped child."""
    d = daemon()
    d.directory().mkdir(parents=True, exist_ok=True)
    zombie = os.fork()
    if zombie == 0:
        os._exit(0)
    time.sleep(0.1)  # it is a zombie now: exited, not reaped
    try:
        (d.pid_path()).write_text(f'{{"pid": {zombie}, "serving": true}}')
        assert d.running() is None  # a zombie is not a server, whatever the lock says
        info = d.ensure_running(env={"PYTHONPATH": str(REPO)}, timeout=30)
        assert info["pid"] != zombie and d.running() == info  # the new one, ready
        assert d.stop() and d.running() is None
    finally:
        os.waitpid(zombie, 0)
        d.stop()
        import shutil
        shutil.rmtree(d.directory(), ignore_errors=True)


def test_two_starts_at_once_both_get_the_one_that_serves():
    """Commands start the node agent several times a second: the start that
    loses the race for the lock (its process ends at once) waits for the
    winner instead of failing with "did not start"."""
    import threading
    d = daemon()
    results, errors = [], []

    def start():
        try:
            results.append(d.ensure_running(env={"PYTHONPATH": str(REPO)}, timeout=30))
        except Exception as e:  # noqa: BLE001  (the assertion below says which)
            errors.append(e)
    try:
        threads = [threading.Thread(target=start) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(results) == 3
        assert len({r["pid"] for r in results}) == 1 and d.running()["pid"] == results[0]["pid"]
    finally:
        d.stop()
        import shutil
        shutil.rmtree(d.directory(), ignore_errors=True)


def test_a_program_is_known_by_its_pid_and_start_time(tmp_path):
    """daemons.Process, which supervises the cluster's components and
    dnsmasq: a pidfile whose start time is not the live process's names
    another process (a pid used again) and is never signalled."""
    import json
    import subprocess
    from minipod import daemons
    proc = daemons.Process("a sleeper", lambda: tmp_path / "sleeper.json", lambda: tmp_path / "sleeper.log")
    assert proc.running() is None and proc.stop() is False
    info = proc.start(["sleep", "60"])
    try:
        assert proc.running() == info and proc.start(["sleep", "60"]) == info  # started once
        record = json.loads((tmp_path / "sleeper.json").read_text())
        (tmp_path / "sleeper.json").write_text(json.dumps({**record, "start": record["start"] + 1}))
        assert proc.running() is None and proc.stop() is False  # not that process: left alone
        assert open(f"/proc/{info['pid']}/stat").read().split()[2] not in ("Z", "X")
        (tmp_path / "sleeper.json").write_text(json.dumps(record))
        assert proc.stop() is True and proc.running() is None
        assert not (tmp_path / "sleeper.json").exists()
        other = subprocess.Popen(["sleep", "60"])  # a program that daemonized itself is adopted by its pid
        try:
            adopted = proc.adopt(other.pid, ["sleep", "60"])
            assert proc.running() == adopted and proc.stop(timeout=5) is True and other.wait(5) == -15
        finally:
            other.kill()
            other.wait()
    finally:
        subprocess.run(["kill", str(info["pid"])], capture_output=True)


def test_a_bare_pid_of_an_older_agent_is_still_known_and_stopped():
    """Before the node agent was a Daemon its pidfile held a bare pid: a
    machine updated while one runs still sees it (and `agent stop` stops it)."""
    d = daemon()
    try:
        info = d.ensure_running(env={"PYTHONPATH": str(REPO)}, timeout=30)
        d.pid_path().write_text(str(info["pid"]))
        assert d.running()["pid"] == info["pid"]
        assert d.stop() and d.running() is None
    finally:
        d.stop()
        import shutil
        shutil.rmtree(d.directory(), ignore_errors=True)


def test_a_dnsmasq_started_before_its_record_is_adopted_and_stopped(tmp_path):
    """A real dnsmasq (no DNS port: nothing to bind) left by a minipod that
    wrote only dnsmasq's own pidfile is taken in, not doubled, and stopped."""
    from minipod import procfs
    from minipod.roles import clusterdns
    assert clusterdns.serve("port=0\n", tmp_path)
    pid = clusterdns.running_pid(tmp_path)
    try:
        assert pid and (tmp_path / "dnsmasq.json").exists()
        (tmp_path / "dnsmasq.json").unlink()
        assert clusterdns.running_pid(tmp_path) == pid  # adopted by its cmdline
        assert not clusterdns.serve("port=0\n", tmp_path)  # the same configuration: not started again
        clusterdns.stop(tmp_path)
        assert clusterdns.running_pid(tmp_path) is None and procfs.state(pid) in (None, "Z")
    finally:
        if procfs.state(pid) not in (None, "Z"):
            os.kill(pid, 9)


def _serve() -> int:
    d = daemon()
    if not d.take_lock():
        return 1
    time.sleep(1.5)  # importing, as the CRI server imports grpcio
    d.write_info({"serving": True})
    import signal
    signal.sigwait({signal.SIGTERM})
    d.pid_path().unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    import signal
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    sys.exit(_serve())
