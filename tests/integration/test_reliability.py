"""Concurrency, crash recovery with zero leaks, reboot, and bad input."""

import concurrent.futures
import os
import shutil
import signal

import pytest

from minipod.faults import STEPS
from tests.conftest import TEST_ROOT
from tests.integration.conftest import leaks, mp, mp_json, running_agent, sh, state_snapshot, wait_for

PARALLEL = 20


def test_parallel_runs_get_distinct_ips_that_answer_then_parallel_rm_leaves_nothing():
    names = [f"par{i}" for i in range(PARALLEL)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(lambda n: mp("run", "-d", "--name", n, "busybox", "httpd", "-f", "-p", "80",
                                             "-h", "/www", check=False, timeout=120), names))
    assert [r.returncode for r in results] == [0] * PARALLEL, [r.stderr for r in results if r.returncode]
    pods = mp_json("pod", "ls", "--format", "json")
    assert sorted(p["Name"] for p in pods) == sorted(names)
    assert all(p["Status"] == "running" for p in pods)
    ips = [p["IP"] for p in pods]
    assert len(set(ips)) == PARALLEL and all(ips)
    for ip in ips:
        out = wait_for(lambda: sh(f"curl -s --max-time 3 http://{ip}/", check=False).stdout, what=f"httpd at {ip}")
        assert out == "hello from minipod pod\n"
    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        removed = list(pool.map(lambda n: mp("rm", "-f", n, check=False, timeout=120), names))
    assert [r.returncode for r in removed] == [0] * PARALLEL, [r.stderr for r in removed if r.returncode]
    assert mp("ps", "-aq").stdout == "" and mp("pod", "ls", "-q").stdout == ""
    assert leaks() == []


def test_parallel_pod_creates_with_the_same_name_or_port_only_one_wins():
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        same_name = list(pool.map(lambda _: mp("pod", "create", "--name", "race", check=False), range(6)))
    assert sorted(r.returncode for r in same_name) == [0] + [125] * 5
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        same_port = list(pool.map(lambda i: mp("pod", "create", "--name", f"port{i}", "-p", "18090:80",
                                               check=False), range(6)))
    assert sorted(r.returncode for r in same_port) == [0] + [125] * 5
    assert len(mp("pod", "ls", "-q").stdout.split()) == 2


def _crash(step, *args):
    proc = mp(*args, check=False, env={"MINIPOD_FAULT": step})
    assert proc.returncode == -signal.SIGKILL, f"{step}: {proc.returncode} {proc.stderr}"


@pytest.mark.parametrize("step", [s for s in STEPS if s.startswith("pod-create") or s.startswith("pod-pause")
                                  or s.startswith("pod-netns") or s.startswith("pod-network") or s.startswith("cni-")
                                  or s.startswith("container-recorded") or s == "container-started"])
def test_killed_during_create_gc_returns_to_clean(step):
    if step.startswith("pod"):
        _crash(step, "pod", "create", "--name", "crashed", "-p", "18091:80")
    else:
        _crash(step, "run", "-d", "--name", "crashed", "-p", "18091:80", "busybox", "sleep", "300")
    found = mp("gc").stdout
    if step == "container-started":
        # the container was complete: gc must leave it alone, running
        assert found == "" and "crashed" in mp("ps").stdout
    else:
        assert found, "the crash must leave something for gc to find"
        assert mp("ps", "-aq").stdout == "" and mp("pod", "ls", "-q").stdout == ""
        assert leaks() == []
    mp("rm", "-f", "crashed", check=False)
    mp("pod", "rm", "-f", "crashed", check=False)
    assert leaks() == []
    # and the name and port are free again
    mp("run", "-d", "--name", "crashed", "-p", "18091:80", "busybox", "sleep", "300")


@pytest.mark.parametrize("step,command", [
    ("container-rm-killed", ["rm", "-f", "victim"]),
    ("pod-removal-begun", ["pod", "rm", "-f", "victim"]),  # the last step before the caller has its code
])
def test_killed_during_removal_next_command_and_gc_finish_the_job(step, command):
    mp("run", "-d", "--name", "victim", "-p", "18092:80", "busybox", "sleep", "300")
    _crash(step, *command)
    mp(*command)  # the next command copes
    mp("gc")
    assert mp("ps", "-aq").stdout == "" and mp("pod", "ls", "-q").stdout == ""
    assert leaks() == []


def test_reboot_releases_every_stale_ip_and_rule():
    for name, port in (("boot1", 18093), ("boot2", 18094)):
        mp("run", "-d", "--name", name, "-p", f"{port}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    pauses = [mp_json("pod", "inspect", n)[0]["PausePid"] for n in ("boot1", "boot2")]
    ipam = TEST_ROOT / "lib" / "cni" / "networks" / "mptest"
    assert len([f for f in ipam.iterdir() if f.name[0].isdigit()]) == 2
    # A reboot: every process gone, /run emptied; /var/lib (IP files, CNI cache) survives.
    pauses += [running_agent()] if running_agent() else []  # `run` started the node process: it goes too
    for pid in pauses:
        os.kill(pid, signal.SIGKILL)
    for pin in os.listdir("/run/netns"):
        if pin.startswith("mpt-"):
            sh(f"umount /run/netns/{pin}; rm -f /run/netns/{pin}")
    shutil.rmtree(TEST_ROOT / "run")
    wait_for(lambda: all(not os.path.exists(f"/proc/{p}") for p in pauses), what="pauses gone")
    assert "18093" in sh("iptables-save -t nat").stdout  # stale DNAT survives without gc
    found = mp("gc").stdout
    assert "cni-attachment" in found
    assert not [f for f in ipam.iterdir() if f.name[0].isdigit()]
    assert "18093" not in sh("iptables-save -t nat").stdout and "18094" not in sh("iptables-save -t nat").stdout
    pods = mp_json("pod", "ls", "--format", "json")
    assert sorted((p["Name"], p["Status"]) for p in pods) == [("boot1", "stopped"), ("boot2", "stopped")]
    mp("rm", "-f", "boot1", "boot2")
    assert leaks() == []


def test_dead_pause_is_detected_and_pod_start_brings_it_back():
    mp("pod", "create", "--name", "phoenix", "-p", "18095:80")
    os.kill(mp_json("pod", "inspect", "phoenix")[0]["PausePid"], signal.SIGKILL)
    wait_for(lambda: mp_json("pod", "inspect", "phoenix")[0]["State"] == "stopped", what="stopped")
    mp("pod", "start", "phoenix")
    mp("run", "-d", "--pod", "phoenix", "--name", "back", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    out = wait_for(lambda: sh("curl -s --max-time 3 http://127.0.0.1:18095/", check=False).stdout, what="port")
    assert out == "hello from minipod pod\n"
    assert len([l for l in sh("iptables-save -t nat").stdout.splitlines() if "--dport 18095 -j DNAT" in l]) == 1


BAD_COMMANDS = [
    ["run", "--rm", "nosuchimage"], ["run", "--rm", "--pod", "nosuchpod", "busybox", "true"],
    ["run", "--rm", "--network", "nosuchnet", "busybox", "true"], ["run", "-p", "99999:80", "busybox"],
    ["run", "-p", "80", "busybox"], ["run", "-p", "a:b:c:d", "busybox"], ["run", "-e", "NOEQUALS", "busybox"],
    ["run", "-u", "root", "busybox"], ["run", "--name", "bad/name", "busybox"], ["run", "--name", "existing", "busybox"],
    ["run", "-p", "18096:80", "busybox"], ["run", "--cap-add", "NOT_A_CAP", "busybox"], ["run", "-w", "relative", "busybox"],
    ["run", "-d", "--rm", "busybox"], ["exec", "nosuch", "true"], ["stop", "nosuch"], ["kill", "-s", "NOPE", "existing"],
    ["rm", "existing"], ["logs", "nosuch"], ["inspect", "nosuch"], ["pod", "create", "--name", "existing"],
    ["pod", "rm", "existing"], ["pod", "inspect", "nosuch"], ["pod", "create", "--network", "none", "-p", "1:1"],
    ["network", "create", "x", "--subnet", "10.0.0.1/24"], ["network", "create", "x", "--subnet", "banana"],
    ["network", "create", "x", "--subnet", "10.231.0.128/25"], ["network", "create", "none", "--subnet", "10.9.0.0/24"],
    ["network", "rm", "mptest"], ["network", "rm", "nosuch"], ["network", "inspect", "nosuch"],
    ["image", "rm", "busybox"], ["image", "rm", "nosuch"], ["image", "import", "/nonexistent.tar", "x"],
    ["image", "import", "/etc/passwd", "x"], ["nosuchcommand"],
]


def test_bad_input_is_one_line_125_and_changes_nothing():
    mp("run", "-d", "--name", "existing", "-p", "18096:80", "busybox", "sleep", "300")
    before = state_snapshot()
    for command in BAD_COMMANDS:
        proc = mp(*command, check=False)
        assert proc.returncode == 125, (command, proc.returncode, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("minipod: "), (command, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert state_snapshot() == before
