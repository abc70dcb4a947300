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


def _rewrite(target, rounds):
    for n in range(rounds):
        # sizes that grow and shrink, so a torn or mixed read cannot pass for a whole one
        state.write_json(target, {"n": n, "pad": "x" * (n % 7) * 700}, mode=0o600, recycle=True)


def _read_all(target, stop, bad):
    seen = 0
    while not stop.is_set():
        try:
            obj = state.read_recycled_json(target)
        except ValueError as e:
            bad.put(f"torn: {e}")
            return
        if obj["pad"] != "x" * (obj["n"] % 7) * 700:
            bad.put(f"mixed: {obj['n']}")
            return
        if obj["n"] < seen:
            bad.put(f"went back: {obj['n']} after {seen}")
            return
        seen = obj["n"]


def test_recycled_writes_are_read_whole_and_in_order_by_concurrent_readers(tmp_path):
    """The object store's writes reuse a spare inode in place: readers in
    other processes, reading all along, only ever see whole versions, never
    an older one after a newer."""
    target = tmp_path / "o.json"
    state.write_json(target, {"n": 0, "pad": ""}, mode=0o600, recycle=True)
    stop, bad = multiprocessing.Event(), multiprocessing.Queue()
    readers = [multiprocessing.Process(target=_read_all, args=(target, stop, bad)) for _ in range(3)]
    writers = [multiprocessing.Process(target=_rewrite, args=(target, 3000))]
    for p in readers + writers:
        p.start()
    for p in writers:
        p.join(120)
    stop.set()
    for p in readers:
        p.join(30)
    assert bad.empty(), bad.get()
    assert state.read_recycled_json(target)["n"] == 2999
    assert sorted(p.name for p in tmp_path.iterdir()) == [".o.json.spare", "o.json"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_recycled_write_swaps_inodes_and_a_torn_spare_is_never_read(tmp_path):
    target = tmp_path / "o.json"
    state.write_json(target, {"v": 1}, recycle=True)  # no file yet: written the usual way
    state.write_json(target, {"v": 2}, recycle=True)  # the spare made, then swapped in
    first = target.stat().st_ino
    state.write_json(target, {"v": 3}, recycle=True)
    spare = state.spare_of(target)
    assert spare.stat().st_ino == first and target.stat().st_ino != first
    assert state.read_recycled_json(target) == {"v": 3}
    spare.write_text('{"v": 4, "to')  # a writer killed half-way through the spare
    assert state.read_recycled_json(target) == {"v": 3}
    state.write_json(target, {"v": 5}, recycle=True)  # the torn spare is overwritten whole
    assert state.read_recycled_json(target) == {"v": 5}
    assert json.loads(spare.read_text()) == {"v": 3}


def test_a_spare_held_by_a_reader_is_not_rewritten(tmp_path):
    """A reader that opened the file just before it became the spare holds
    it under a shared lock: the writer writes a new file instead."""
    import fcntl
    target = tmp_path / "o.json"
    for v in (1, 2, 3):
        state.write_json(target, {"v": v}, recycle=True)
    spare = state.spare_of(target)
    fd = os.open(spare, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        state.write_json(target, {"v": 4}, recycle=True)
        assert os.pread(fd, 100, 0) == b'{\n  "v": 2\n}\n'  # what the reader had opened, untouched
    finally:
        os.close(fd)
    assert state.read_recycled_json(target) == {"v": 4}


def test_cached_records_are_copies_and_follow_every_write(tmp_path, monkeypatch):
    """A long-running process's record cache (state.cache_records): an
    unchanged record is not read again, every caller gets its own copy,
    and a write, a removal or a record still settling is always seen."""
    monkeypatch.setattr(state, "_CACHING", [True])
    monkeypatch.setattr(state, "_RECORDS", {})
    monkeypatch.setattr(state, "SETTLED_NS", 0)
    s = state.Store(tmp_path, "thing")
    s.save({"id": "a1", "name": "one", "n": 1})
    first = s.load("a1")
    first["n"] = 99  # a caller changing its copy changes nobody else's
    assert s.load("a1") == {"id": "a1", "name": "one", "n": 1}
    path = tmp_path / "a1" / state.RECORD
    path.write_text('{"id": "a1", "name": "one", "n": 2}')  # in place, another size: a new stamp
    assert s.load("a1")["n"] == 2
    monkeypatch.setattr(state, "SETTLED_NS", 10 ** 12)  # still settling: read every time, never kept
    s.save({"id": "a1", "name": "one", "n": 3})
    assert s.load("a1")["n"] == 3 and "a1" not in state._RECORDS[str(tmp_path)]
    s.save({"id": "b2", "name": "two"})
    assert [r["id"] for r in s.all()] == ["a1", "b2"]
    import shutil
    shutil.rmtree(tmp_path / "b2")
    assert [r["id"] for r in s.all()] == ["a1"] and "b2" not in state._RECORDS[str(tmp_path)]
    assert s.load("b2") is None
