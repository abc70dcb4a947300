"""cgroups and seccomp with real processes: memory (OOM), pids, CPU,
pod-level limits, device control, clean-up; docker's default seccomp
profile, --cap-add, unconfined and user profiles."""

import json
import os
import subprocess
import tarfile
import time

import pytest

from minipod.runtime import cgroup
from tests.conftest import REPO, TEST_ENV, TEST_ROOT
from tests.integration.conftest import MP, has_cap_sys_resource, leaks, mp, mp_json, leftover_cgroups, settle, wait_for

# dd holds exactly its block size, filled from /dev/zero: resident memory.
DD = "dd if=/dev/zero of=/dev/null bs={n}M count=1"
MB = 1 << 20


def _cg_file(path, name):
    """A control file of a container's cgroup, in whichever hierarchy has it."""
    for top in ("/sys/fs/cgroup", *(f"/sys/fs/cgroup/{c}" for c in ("memory", "pids", "cpu", "devices"))):
        f = os.path.join(top, path, name)
        if os.path.exists(f):
            with open(f) as fh:
                return fh.read().strip()
    raise AssertionError(f"no {name} for {path}")


def test_memory_limit_oom_kills_with_137_and_inspect_says_so():
    proc = mp("run", "--name", "hog", "--memory", "32m", "busybox", *DD.format(n=100).split(),
              check=False, timeout=120)
    assert proc.returncode == 137, (proc.returncode, proc.stdout, proc.stderr)
    state = mp_json("inspect", "hog")[0]
    assert state["State"]["OOMKilled"] is True and state["State"]["ExitCode"] == 137
    assert state["HostConfig"]["Memory"] == 32 * MB
    # a plain SIGKILL is not an OOM kill
    mp("run", "-d", "--name", "killed", "--memory", "32m", "busybox", "sleep", "300")
    mp("kill", "killed")
    wait_for(lambda: mp_json("inspect", "killed")[0]["State"]["Status"] == "exited", what="exit")
    state = mp_json("inspect", "killed")[0]["State"]
    assert state["ExitCode"] == 137 and state["OOMKilled"] is False


def test_pids_limit_contains_a_fork_loop():
    # 80 background sleeps against a limit of 50: a fork fails with EAGAIN
    # (ash reports it and gives up), and the cgroup never holds more than 50
    cid = mp("run", "-d", "--name", "forker", "--pids-limit", "50", "busybox", "sh", "-c",
             "for i in $(seq 80); do sleep 300 & done; echo all-forked").stdout.strip()
    path = mp_json("inspect", "forker")[0]["HostConfig"]["CgroupParent"] + "/ctr-" + cid
    wait_for(lambda: "can't fork: Resource temporarily unavailable" in mp("logs", "forker").stdout,
             timeout=30, what="the fork loop to hit the limit")
    assert "all-forked" not in mp("logs", "forker").stdout
    assert _cg_file(path, "pids.max") == "50"
    assert 40 <= int(_cg_file(path, "pids.current")) <= 50
    assert len(_cg_file(path, "cgroup.procs").split()) <= 50  # what the host sees: bounded


def test_cpus_half_a_cpu_keeps_a_busy_loop_near_50_percent():
    mp("run", "-d", "--name", "spin", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done")
    path = mp_json("inspect", "spin")[0]["HostConfig"]["CgroupParent"]
    ctr = path + "/ctr-" + mp_json("inspect", "spin")[0]["Id"]
    start_ns, t0 = cgroup.stats(ctr)["cpu_ns"], time.monotonic()
    time.sleep(3)
    used = (cgroup.stats(ctr)["cpu_ns"] - start_ns) / ((time.monotonic() - t0) * 1e9)
    assert 0.3 < used < 0.65, f"{used:.2f} of a CPU"
    stats = json.loads(mp("stats", "--no-stream", "--format", "json", "spin").stdout)
    assert 25 < float(stats[0]["CPUPerc"].rstrip("%")) < 70


def test_pod_memory_limit_is_shared_by_its_containers():
    mp("pod", "create", "--name", "alone", "--memory", "48m")
    # 40 MB fits in a 48 MB pod by itself ...
    mp("run", "--rm", "--pod", "alone", "busybox", *DD.format(n=40).split())
    mp("pod", "create", "--name", "shared", "--memory", "48m")
    # ... but not beside 20 MB held by another container of the same pod: the
    # OOM killer takes the larger one, the newcomer
    cid = mp("run", "-d", "--pod", "shared", "--name", "first", "busybox", "sh", "-c",
             DD.format(n=20).replace("of=/dev/null ", "") + " | sleep 300").stdout.strip()
    pod_cg = mp_json("pod", "inspect", "shared")[0]["HostConfig"]["CgroupParent"] + "/pod-" + \
        mp_json("pod", "inspect", "shared")[0]["Id"]
    wait_for(lambda: cgroup.stats(f"{pod_cg}/ctr-{cid}")["memory"] > 19 * MB, what="20 MB held")
    proc = mp("run", "--pod", "shared", "--name", "second", "busybox", *DD.format(n=40).split(),
              check=False, timeout=120)
    assert proc.returncode == 137
    states = {n: mp_json("inspect", n)[0]["State"] for n in ("first", "second")}
    assert states["second"]["OOMKilled"] is True and states["first"]["Status"] == "running"
    assert mp_json("pod", "inspect", "shared")[0]["HostConfig"]["Memory"] == 48 * MB


def test_cgroups_are_gone_after_rm_and_pod_rm():
    mp("run", "-d", "--name", "c1", "--memory", "64m", "busybox", "sleep", "300")
    mp("pod", "create", "--name", "p1", "--pids-limit", "100")
    mp("run", "-d", "--pod", "p1", "--name", "c2", "busybox", "sleep", "300")
    assert len(leftover_cgroups()) >= 5  # two pods, two pauses, two containers (per hierarchy)
    mp("rm", "-f", "c1")
    mp("pod", "rm", "-f", "p1")
    settle()  # pod rm returns before the teardown
    assert leftover_cgroups() == [] and leaks() == []


def test_devices_a_container_cgroup_cannot_open_a_host_disk():
    """The kernel's device control, shown with a host process placed in a
    container's cgroup (the container itself has no disk node to try)."""
    cid = mp("run", "-d", "--name", "dev", "busybox", "sleep", "300").stdout.strip()
    ctr = mp_json("inspect", "dev")[0]["HostConfig"]["CgroupParent"] + "/ctr-" + cid
    disk = "/dev/" + sorted(d for d in os.listdir("/sys/block") if not d.startswith(("loop", "ram")))[0]
    assert os.path.exists(disk)
    code = ("import os, sys; from minipod.runtime import cgroup; cgroup.join(sys.argv[1]);\n"
            "for dev in ('/dev/null', sys.argv[2]):\n"
            "    try: os.close(os.open(dev, os.O_RDONLY)); print(dev, 'ok')\n"
            "    except OSError as e: print(dev, e.errno)\n")
    out = subprocess.run([os.sys.executable, "-c", code, ctr, disk], capture_output=True, text=True,
                         env={**os.environ, **TEST_ENV}, cwd=REPO, check=True).stdout.split("\n")
    assert out[0] == "/dev/null ok" and out[1] == f"{disk} 1", out  # EPERM


@pytest.fixture(scope="module")
def probe_image():
    """busybox plus a static syscall probe (tests/integration/assets)."""
    probe = TEST_ROOT / "syscall_probe"
    subprocess.run(["gcc", "-static", "-O", "-o", str(probe),
                    str(REPO / "tests/integration/assets/syscall_probe.c")], check=True)
    out = TEST_ROOT / "probe.tar"
    with tarfile.open(TEST_ROOT / "busybox.tar.gz") as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        dst.add(probe, "bin/syscall_probe")
    mp("image", "import", out, "probe")
    yield "probe"
    mp("image", "rm", "-f", "probe")


PROBES = ["unshare-user", "keyctl", "add_key", "mount", "bpf", "kexec_load"]


def _probe(*flags):
    args = ["sh", "-c", "; ".join(f"syscall_probe {p}" for p in PROBES + ["getpid"])]
    out = mp("run", "--rm", *flags, "probe", *args).stdout.split("\n")
    return dict(line.split(" ", 1) for line in out if line)


def test_default_seccomp_profile_refuses_with_eperm(probe_image):
    result = _probe()
    assert {p: result[p] for p in PROBES} == {p: "EPERM" for p in PROBES}
    assert result["getpid"] == "ok"
    # busybox applets a user needs keep working under the filter
    out = mp("run", "--rm", "busybox", "sh", "-c",
             "grep Seccomp: /proc/self/status; ps >/dev/null && echo ps-ok; "
             "ping -c1 -W2 127.0.0.1 >/dev/null && echo ping-ok; "
             "(httpd -p 8080 -h / && printf 'GET /none HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080 | head -1)").stdout
    assert out.splitlines() == ["Seccomp:\t2", "ps-ok", "ping-ok", "HTTP/1.1 404 Not Found"]
    assert "Operation not permitted" in mp("run", "--rm", "busybox", "unshare", "-U", "id", check=False).stderr


def test_seccomp_unconfined_privileged_and_cap_add_lift_it(probe_image):
    unconfined = _probe("--security-opt", "seccomp=unconfined")
    assert unconfined["unshare-user"] == "ok" and unconfined["keyctl"] == "ok" and unconfined["add_key"] == "ok"
    assert mp("run", "--rm", "--privileged", "busybox", "grep", "Seccomp:", "/proc/self/status").stdout \
        == "Seccomp:\t0\n"
    # CAP_SYS_ADMIN brings mount and unshare back, as docker's profile does
    admin = _probe("--cap-add", "SYS_ADMIN")
    assert admin["mount"] == "ok" and admin["unshare-user"] == "ok" and admin["keyctl"] == "EPERM"


def test_exec_gets_the_same_filter(probe_image):
    mp("run", "-d", "--name", "target", "probe", "sleep", "300")
    assert mp("exec", "target", "syscall_probe", "unshare-user").stdout == "unshare-user EPERM\n"
    assert mp("exec", "target", "grep", "Seccomp:", "/proc/self/status").stdout == "Seccomp:\t2\n"


def test_user_profile_in_docker_format(probe_image, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    proc = mp("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "mkdir", "/x", check=False)
    assert proc.returncode == 1 and "Permission denied" in proc.stderr
    # everything else allowed by this profile: unshare works
    assert mp("run", "--rm", "--security-opt", f"seccomp={profile}", "probe",
              "syscall_probe", "unshare-user").stdout == "unshare-user ok\n"


@pytest.mark.parametrize("args,words", [
    (["--memory", "12q"], "invalid --memory"), (["-m", "1k"], "minimum is 6m"),
    (["--cpus", "zero"], "invalid --cpus"), (["--pids-limit", "-5"], "invalid --pids-limit"),
    (["--memory-swap", "1g"], "needs --memory"), (["--cpu-shares", "1"], "--cpu-shares"),
    (["--security-opt", "seccomp=/nonexistent.json"], "cannot read seccomp profile"),
    (["--security-opt", "apparmor=x"], "invalid --security-opt")])
def test_bad_limits_and_profiles_are_one_line_and_leave_nothing(args, words):
    before = leftover_cgroups()
    for cmd in (["run", "--rm", *args, "busybox", "true"],) + (
            (["pod", "create", "--name", "bad", *args],) if "--security-opt" not in args else ()):
        proc = mp(*cmd, check=False)
        assert proc.returncode == 125 and words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert mp("ps", "-aq").stdout == "" and mp("pod", "ls", "-q").stdout == ""
    assert leftover_cgroups() == before == []


def _raise_own_oom_score_adj():
    """In the CLI's process before exec: a caller whose score is raised (300),
    which neither pause nor a container may pass on."""
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("300")


def _adj(pid) -> int:
    with open(f"/proc/{pid}/oom_score_adj") as f:
        return int(f.read())


def test_pause_asks_the_oom_killer_to_spare_it_and_containers_get_dockers_zero():
    """pause asks for the kubelet's -998; that needs CAP_SYS_RESOURCE, and a
    root without it (this machine's) gets as low as the kernel allows: 0, the
    floor the test process inherited. A container gets docker's 0 whatever its
    caller had. The CLI runs with 300, so neither value can be the caller's."""
    proc = subprocess.run([*MP, "run", "-d", "--name", "app", "busybox", "sleep", "300"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **TEST_ENV}, cwd=REPO,
                          preexec_fn=_raise_own_oom_score_adj)
    assert proc.returncode == 0, proc.stderr
    pod = mp_json("pod", "inspect", "app")[0]
    info = mp_json("inspect", "app")[0]
    pause_adj, app_adj = _adj(pod["PausePid"]), _adj(info["State"]["Pid"])
    assert pod["PauseOOMScoreAdj"] == pause_adj
    assert pause_adj == (-998 if has_cap_sys_resource() else 0)
    assert app_adj == 0 == info["HostConfig"]["OomScoreAdj"]
    # an exec'd process gets the container's value too, not its caller's
    out = subprocess.run([*MP, "exec", "app", "cat", "/proc/self/oom_score_adj"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, **TEST_ENV}, cwd=REPO, preexec_fn=_raise_own_oom_score_adj)
    assert out.stdout == "0\n", out


def test_stats_table_has_dockers_columns():
    mp("run", "-d", "--name", "watched", "--memory", "64m", "busybox", "sleep", "300")
    lines = mp("stats", "--no-stream").stdout.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT",
                                "MEM", "%", "PIDS"]
    row = lines[1].split()
    assert row[1] == "watched" and row[5] == "64MiB" and row[-1] == "1"
    proc = mp("stats", "--no-stream", "nosuch", check=False)
    assert proc.returncode == 125 and "nosuch" in proc.stderr
