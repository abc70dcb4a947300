"""Pods and pause semantics, each asserting what a user would look at."""

import os
import signal
import time

from tests.conftest import TEST_ROOT
from tests.integration.conftest import mp, mp_json, pod_ip, sh, wait_for


def _pod(name, *args):
    mp("pod", "create", "--name", name, *args)
    return mp_json("pod", "inspect", name)[0]


def test_pod_create_pins_netns_and_runs_pause():
    info = _pod("p1", "--hostname", "p1host")
    assert info["State"] == "running" and info["Hostname"] == "p1host"
    assert info["NetNS"] == "/run/netns/mpt-p1"
    out = sh("ip netns exec mpt-p1 ip -o -4 addr show").stdout
    assert "lo" in out and info["IPAddress"].split("/")[0] in out
    pid = info["PausePid"]
    assert open(f"/proc/{pid}/comm").read().strip() == "pause"
    assert os.readlink(f"/proc/{pid}/ns/net") == info["Namespaces"]["net"]
    # pause does not keep the host's root file system open.
    assert sh(f"ls -A /proc/{pid}/root/").stdout == ""
    assert mp("pod", "create", "--name", "p1", check=False).returncode == 125
    ls = mp_json("pod", "ls", "--format", "json")
    assert [(p["Name"], p["Status"], p["Containers"]) for p in ls] == [("p1", "running", 0)]


def test_pause_is_a_small_static_binary():
    _pod("pv")
    pid = mp_json("pod", "inspect", "pv")[0]["PausePid"]
    exe = os.readlink(f"/proc/{pid}/exe")
    assert exe.startswith(str(TEST_ROOT / "lib" / "bin")) and os.path.basename(exe) == "pause"
    assert sh(f"{exe} -v").stdout.strip().startswith("minipod-pause")
    assert open(f"/proc/{pid}/cmdline", "rb").read() == b"/pause\0"
    # static: no interpreter, no shared library mapped
    maps = open(f"/proc/{pid}/maps").read()
    assert ".so" not in maps and "python" not in maps
    memory = mp_json("pod", "inspect", "pv")[0]["PauseMemoryKB"]
    assert 0 < memory["Pss"] <= memory["Rss"] < 2 * 1024


def test_two_containers_talk_over_localhost():
    _pod("web")
    mp("run", "-d", "--pod", "web", "--name", "server", "busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www")
    out = wait_for(lambda: mp("run", "--rm", "--pod", "web", "busybox", "sh", "-c",
                              "echo -e 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080",
                              check=False).stdout, what="httpd on localhost")
    assert "hello from minipod pod" in out


def test_shared_pid_namespace_with_pause_as_pid_1():
    _pod("pids")
    mp("run", "-d", "--pod", "pids", "--name", "sleeper", "busybox", "sleep", "300")
    out = mp("run", "--rm", "--pod", "pids", "busybox", "ps", "-o", "pid,comm").stdout.splitlines()[1:]
    procs = {line.split()[1]: line.split()[0] for line in out}
    assert procs["pause"] == "1" and "sleep" in procs
    assert "sleeper" in [c["Name"] for c in mp_json("pod", "inspect", "pids")[0]["Containers"]]


def test_orphans_are_reaped_no_zombies():
    pod_id = _pod("reap")["Id"]
    mp("run", "-d", "--pod", "reap", "--name", "parent", "busybox", "sh", "-c",
       "(sleep 0.2 &) ; (sleep 0.2 &) ; exec sleep 60")
    time.sleep(1.0)
    # the orphans existed, were adopted by pause and reaped by it (one line each in its exit log)
    reaped = (TEST_ROOT / "run" / "pods" / pod_id / "exits").read_text().splitlines()
    assert len([l for l in reaped if l.split()[1] == "0"]) >= 2
    states = mp("exec", "parent", "ps", "-o", "stat,comm").stdout.splitlines()[1:]
    assert not [s for s in states if s.split()[0].startswith("Z")]
    pause = mp_json("pod", "inspect", "reap")[0]["PausePid"]
    children = sh(f"ps --ppid {pause} -o stat=,comm=", check=False).stdout.split("\n")
    assert not [c for c in children if c.startswith("Z")]


def test_app_crash_keeps_pod_ip_and_hostname():
    before = _pod("keep", "--hostname", "keeper")
    mp("run", "-d", "--pod", "keep", "--name", "crashy", "busybox", "sh", "-c", "sleep 0.2; exit 1")
    wait_for(lambda: mp_json("inspect", "crashy")[0]["State"]["Status"] == "exited", what="crash")
    assert mp_json("inspect", "crashy")[0]["State"]["ExitCode"] == 1
    after = mp_json("pod", "inspect", "keep")[0]
    assert after["State"] == "running" and after["IPAddress"] == before["IPAddress"]
    out = mp("run", "--rm", "--pod", "keep", "busybox", "sh", "-c", "hostname; ip -o -4 addr show eth0").stdout
    assert out.startswith("keeper\n") and before["IPAddress"] in out


def test_killing_pause_ends_the_pod_and_pod_rm_cleans_up():
    info = _pod("fragile")
    mp("run", "-d", "--pod", "fragile", "--name", "inside", "busybox", "sleep", "300")
    ctr_pid = mp_json("inspect", "inside")[0]["State"]["Pid"]
    os.kill(info["PausePid"], signal.SIGKILL)
    wait_for(lambda: mp_json("pod", "inspect", "fragile")[0]["State"] == "stopped", what="pod stopped")
    wait_for(lambda: not os.path.exists(f"/proc/{ctr_pid}"), what="container gone")
    assert mp_json("inspect", "inside")[0]["State"]["Status"] == "exited"
    assert "Stopped" in mp("pod", "ls").stdout
    assert mp("pod", "rm", "fragile", check=False).returncode == 125  # has a container
    mp("pod", "rm", "-f", "fragile")
    assert not os.path.exists("/run/netns/mpt-fragile")
    assert mp("ps", "-aq").stdout == "" and mp("pod", "ls", "-q").stdout == ""


def test_sigterm_reaches_app_containers_at_once():
    _pod("term")
    mp("run", "-d", "--pod", "term", "--name", "sleepy", "busybox", "sleep", "300")
    start = time.monotonic()
    mp("stop", "sleepy")  # default timeout 10 s; busybox sleep is not PID 1, so TERM kills it
    assert time.monotonic() - start < 3
    assert mp_json("inspect", "sleepy")[0]["State"]["ExitCode"] == 143


def test_pod_stop_and_start():
    first = _pod("cycle")
    mp("run", "-d", "--pod", "cycle", "--name", "c1", "busybox", "sleep", "300")
    mp("pod", "stop", "-t", "1", "cycle")
    stopped = mp_json("pod", "inspect", "cycle")[0]
    assert stopped["State"] == "stopped" and stopped["IPAddress"] is None
    assert mp_json("inspect", "c1")[0]["State"]["Status"] == "exited"
    assert not os.path.exists("/run/netns/mpt-cycle")
    assert mp("run", "--rm", "--pod", "cycle", "busybox", "true", check=False).returncode == 125
    mp("pod", "start", "cycle")
    again = mp_json("pod", "inspect", "cycle")[0]
    assert again["State"] == "running" and again["IPAddress"]
    assert again["PausePid"] != first["PausePid"]
    assert mp("run", "--rm", "--pod", "cycle", "busybox", "ip", "-o", "-4", "addr", "show", "eth0").stdout


def test_run_without_pod_gets_its_own_pod_removed_with_rm():
    mp("run", "-d", "--name", "solo", "busybox", "sleep", "300")
    pods = mp_json("pod", "ls", "--format", "json")
    assert [p["Name"] for p in pods] == ["solo"]
    assert " solo " in mp("ps").stdout
    ip = pod_ip("solo")
    # "inet IP/": 10.231.0.25 is also the start of the broadcast 10.231.0.255
    assert mp("exec", "solo", "ip", "-o", "-4", "addr", "show", "eth0").stdout.count(f"inet {ip}/") == 1
    mp("rm", "-f", "solo")
    assert mp("pod", "ls", "-q").stdout == ""
    assert not os.path.exists("/run/netns/mpt-solo")


def test_run_rm_removes_its_pod():
    mp("run", "--rm", "--name", "once", "busybox", "true")
    assert mp("pod", "ls", "-q").stdout == "" and mp("ps", "-aq").stdout == ""


def test_labels_on_pods_and_containers():
    mp("pod", "create", "--name", "labelled", "-l", "app=web", "-l", "example.com/tier=front")
    assert mp_json("pod", "inspect", "labelled")[0]["Labels"] == {"app": "web", "example.com/tier": "front"}
    mp("run", "-d", "--name", "own", "-l", "app=db", "busybox", "sleep", "60")
    assert mp_json("inspect", "own")[0]["Config"]["Labels"] == {"app": "db"}
    assert mp_json("pod", "inspect", "own")[0]["Labels"] == {"app": "db"}  # its own pod carries them too
