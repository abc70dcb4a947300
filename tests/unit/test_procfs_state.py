"""/proc parsing, process identity and the state store."""

import json
import multiprocessing
import os
import time

import pytest

from minipod import procfs, state


def test_parse_stat_with_hostile_comm():
    line = "1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 " + " ".join(["0"] * 12) + " 98765 rest"
    fields = procfs.parse_stat(line)
    assert fields[0] == "1234"
    assert fields[1] == "a) b) (c"
    assert fields[2] == "S"
    assert fields[21] == "98765"


def test_identity_is_pid_and_start_time():
    me = os.getpid()
    start = procfs.start_time(me)
    assert start is not None
    assert procfs.is_running(me, start)
    assert not procfs.is_running(me, start + 1)  # same pid, other process
    assert not procfs.is_running(None, start)


def test_zombie_is_not_running():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    start = procfs.start_time(pid)
    time.sleep(0.1)
    assert procfs.state(pid) == "Z"
    assert not procfs.is_running(pid, start)
    assert not procfs.send_signal(pid, start, 0)
    os.waitpid(pid, 0)
    assert procfs.start_time(pid) is None


def test_send_signal_refuses_a_reused_pid():
    me = os.getpid()
    assert procfs.send_signal(me, procfs.start_time(me), 0)
    assert not procfs.send_signal(me, procfs.start_time(me) - 1, 0)


def test_write_json_is_atomic_and_leaves_no_temp(tmp_path):
    target = tmp_path / "r.json"
    state.write_json(target, {"a": 1})
    state.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_store_find_by_name_id_and_prefix(tmp_path):
    s = state.Store(tmp_path, "thing")
    s.save({"id": "abcdef0123", "name": "one"})
    s.save({"id": "abc9990000", "name": "two"})
    assert s.find("one")["id"] == "abcdef0123"
    assert s.find("abc999")["name"] == "two"
    assert s.find("abc") is None  # ambiguous prefix
    assert s.find("ab") is None
    assert s.ids() == ["abc9990000", "abcdef0123"]


def _hold_lock(path, ready):
    with state.locked(path):
        ready.set()
        time.sleep(30)


def test_lock_of_a_killed_holder_is_free(tmp_path):
    lock = tmp_path / "l.lock"
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(lock, ready))
    holder.start()
    assert ready.wait(10)
    import fcntl
    fd = os.open(lock, os.O_RDWR)
    with pytest.raises(BlockingIOError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    holder.kill()
    holder.join()
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the holder died
    os.close(fd)


def test_stale_temp_files_are_those_of_dead_writers(tmp_path):
    """A SIGKILL between write_json's create and rename leaves .NAME.PID.tmp;
    gc removes those whose writer is gone, never a live writer's."""
    import subprocess
    dead = subprocess.Popen(["true"])
    dead.wait()
    sub = tmp_path / "pod1"
    sub.mkdir()
    stale = sub / f".record.json.{dead.pid}.tmp"
    live = sub / f".record.json.{state._writer_id()}.tmp"
    reused = sub / f".record.json.{os.getpid()}-1.tmp"  # this pid, but another process's start time
    other = sub / ".notes.tmp"
    for f in (stale, live, reused, other):
        f.write_text("{")
    state.write_json(sub / "record.json", {"id": "pod1"})
    assert state.stale_temp_files(tmp_path) == sorted([stale, reused])
    assert state.stale_temp_files(tmp_path / "absent") == []
