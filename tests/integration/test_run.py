"""`minipod run` behaves like `docker run` on a real busybox image."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TEST_ENV, TEST_ROOT
from tests.integration.conftest import MP, mp, mp_json, wait_for


def run(*args, **kw):
    return mp("run", "--rm", "--network", "none", "busybox", *args, **kw)


def test_echo_from_inside():
    assert run("echo", "hello from minipod").stdout == "hello from minipod\n"


@pytest.mark.parametrize("cmd,code", [("true", 0), ("exit 3", 3), ("kill -9 $$", 137)])
def test_exit_code_is_the_containers(cmd, code, via):
    assert run("sh", "-c", cmd, check=False).returncode == code


def test_exit_codes_125_126_127(via):
    unknown_image = mp("run", "--rm", "nosuchimage", "true", check=False)
    assert unknown_image.returncode == 125
    assert unknown_image.stderr.strip() == ("minipod: no such image: nosuchimage (import one with "
                                            "`minipod image import FILE nosuchimage`, or `minipod pull`)")
    bad_flag = mp("run", "--nosuchflag", "busybox", check=False)
    assert bad_flag.returncode == 125 and len(bad_flag.stderr.strip().splitlines()) == 1
    not_executable = run("/etc/passwd", check=False)
    assert not_executable.returncode == 126 and "Permission denied" in not_executable.stderr
    not_found = run("nosuchcommand", check=False)
    assert not_found.returncode == 127 and "nosuchcommand" in not_found.stderr
    assert mp("ps", "-aq").stdout == ""  # nothing half-made


def test_name_in_use_is_125_and_changes_nothing():
    mp("run", "-d", "--name", "dup", "--network", "none", "busybox", "sleep", "60")
    before = mp("ps", "-a", "--format", "json").stdout
    again = mp("run", "-d", "--name", "dup", "--network", "none", "busybox", "true", check=False)
    assert again.returncode == 125
    assert again.stderr.strip() == "minipod: container name 'dup' is already in use"
    assert mp("ps", "-a", "--format", "json").stdout == before


def test_env_workdir_user_hostname(via):
    out = mp("run", "--rm", "--network", "none", "-e", "GREETING=hi there", "-w", "/tmp",
             "--hostname", "box1", "-u", "1000:1000", "busybox", "sh", "-c",
             'echo "$GREETING|$(pwd)|$(id -u):$(id -g)|$(hostname)|$(grep CapEff /proc/self/status)"').stdout
    assert out.strip() == "hi there|/tmp|1000:1000|box1|CapEff:\t0000000000000000"


def test_default_command_is_sh_and_stdin_passes_through_binary_safe(via):
    payload = bytes(range(256)) * 64
    proc = mp("run", "--rm", "-i", "--network", "none", "busybox", "cat", input=payload, text=False)
    assert proc.stdout == payload
    proc = mp("run", "--rm", "-i", "--network", "none", "busybox", input=b"echo from default sh\n", text=False)
    assert proc.stdout == b"from default sh\n"


def test_image_is_untouched_after_container_writes_to_bin():
    lowers = mp_json("image", "inspect", "busybox")[0]["GraphDriver"]["Data"]["LowerDir"].split(":")
    image_busybox = Path(lowers[-1]) / "bin"
    before = sorted(os.listdir(image_busybox))
    run("sh", "-c", "echo evil > /bin/evil && rm /bin/ls && echo ok > /bin/busybox.txt")
    assert sorted(os.listdir(image_busybox)) == before
    assert run("ls", "/bin/ls", check=False).returncode == 0  # a new container sees the image again


def test_pid_namespace_shows_only_the_pod():
    out = run("ps", "-o", "pid,comm").stdout.split("\n")[1:]
    comms = sorted(line.split()[1] for line in out if line.strip())
    assert comms == ["pause", "ps"]
    assert run("cat", "/proc/1/comm").stdout.strip() == "pause"


def test_uts_namespace_is_isolated():
    host = os.uname().nodename
    assert run("hostname").stdout.strip() != host
    # --privileged may set the hostname; it changes the pod's, never the host's
    out = mp("run", "--rm", "--privileged", "--network", "none", "busybox", "sh", "-c",
             "hostname changed-inside && hostname").stdout
    assert out == "changed-inside\n"
    assert os.uname().nodename == host


def _host_disk():
    st = os.stat("/")
    return os.major(st.st_dev), os.minor(st.st_dev)


@pytest.mark.parametrize("attempt,error", [
    ("mount -t tmpfs none /tmp", "permission denied"),
    ("mount -t proc proc /tmp", "permission denied"),
    ("ip link add dummy0 type dummy", "Operation not permitted"),
    ("ip link set lo down", "Operation not permitted"),
    ("echo 1 > /proc/sys/net/ipv4/ip_forward", "Read-only file system"),
    ("echo evil > /proc/sys/kernel/hostname", "Read-only file system"),
    ("mknod /tmp/disk b {major} {minor} && head -c 512 /tmp/disk", "Permission denied"),
    ("mknod /dev/disk b {major} {minor}", "Read-only file system"),
    # EPERM without CAP_SYS_MODULE, or ENOSYS on a kernel without modules:
    # test_dangerous_capabilities_are_absent checks the capability itself.
    ("insmod /bin/busybox", "insmod: can't insert"),
    ("chroot /proc/1/root /bin/true", "Permission denied"),
    ("ls /proc/1/root/", "Permission denied"),
    ("cat /proc/1/environ", "Permission denied"),
    ("nsenter -t 1 -m true", "Permission denied"),
    ("unshare -m true", "Operation not permitted"),
    ("pivot_root / /tmp", "Operation not permitted"),
    ("hostname evil", "Operation not permitted"),
])
def test_escape_attempts_fail_inside(attempt, error):
    major, minor = _host_disk()
    proc = run("sh", "-c", attempt.format(major=major, minor=minor), check=False)
    assert proc.returncode != 0 and error in proc.stderr, proc.stderr


def test_dangerous_capabilities_are_absent():
    status = run("cat", "/proc/self/status").stdout
    sets = {line.split(":")[0]: int(line.split()[1], 16) for line in status.splitlines() if line.startswith("Cap")}
    for bit, name in ((21, "SYS_ADMIN"), (12, "NET_ADMIN"), (16, "SYS_MODULE"), (19, "SYS_PTRACE"),
                      (17, "SYS_RAWIO"), (25, "SYS_TIME")):
        for kind in ("CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"):
            assert not sets[kind] & (1 << bit), f"{name} in {kind}"
    assert "NoNewPrivs:\t1" in status


def test_no_host_process_is_visible_or_reachable():
    # Host processes of the test's own, so that the host has more than the
    # container may see whatever else runs (a fresh PID namespace runs little).
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(8)]
    try:
        host_pids = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        out = run("sh", "-c", "ls /proc | grep -c '^[0-9]'").stdout
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
    assert int(out) <= 4  # pause, sh, ls, grep: nothing of the host's
    assert {p.pid for p in sleepers} <= host_pids  # 8 host processes the container did not see
    # pid 1 of the container is pause, not the host's init; its pids mean nothing outside
    assert run("cat", "/proc/1/comm").stdout.strip() == "pause"


def test_kcore_and_masked_paths_reveal_nothing():
    assert run("sh", "-c", "head -c 64 /proc/kcore | wc -c").stdout.strip() == "0"
    assert run("sh", "-c", "find /proc/acpi /sys/firmware -mindepth 1 2>/dev/null | wc -l").stdout.strip() == "0"
    mounts = run("cat", "/proc/mounts").stdout
    assert " /sys sysfs ro," in mounts
    assert " /proc/sys proc ro," in mounts


def test_dev_has_the_standard_nodes_and_pts():
    out = run("sh", "-c", "ls /dev | tr '\\n' ' '").stdout
    for node in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd"):
        assert node in out.split()
    assert run("sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c").stdout.strip() == "4"


def test_detached_logs_and_exit_code_in_ps_and_inspect():
    cid = mp("run", "-d", "--name", "det", "--network", "none", "busybox", "sh", "-c",
             "echo out; echo err >&2; exit 4").stdout.strip()
    assert len(cid) == 64
    wait_for(lambda: mp_json("inspect", "det")[0]["State"]["Status"] == "exited", what="exit")
    info = mp_json("inspect", "det")[0]
    assert info["State"]["ExitCode"] == 4 and info["Id"] == cid
    assert sorted(mp("logs", "det").stdout.split()) == ["err", "out"]
    assert "Exited (4)" in mp("ps", "-a").stdout
    assert "det" not in mp("ps").stdout


def test_logs_follow_streams_until_exit():
    # The container prints line1, then waits on its stdin (a fifo that -di
    # keeps open) until the test writes to it: "while it runs" is then a fact
    # of the test, not of the machine's speed.
    cid = mp("run", "-di", "--name", "follow", "--network", "none", "busybox", "sh", "-c",
             "echo line1; read go; echo line2; echo line3").stdout.strip()
    proc = subprocess.Popen(MP + ["logs", "-f", "follow"], stdout=subprocess.PIPE,
                            env={**os.environ, **TEST_ENV})
    watchdog = threading.Timer(30, proc.kill)  # a hung `logs -f` fails the test, not the suite
    watchdog.start()
    try:
        first = proc.stdout.readline()
        assert first == b"line1\n"
        assert mp_json("inspect", "follow")[0]["State"]["Status"] == "running"
        fifo = TEST_ROOT / "lib" / "containers" / cid / "stdin"
        with open(fifo, "w") as f:
            f.write("go\n")
        rest = proc.stdout.read()  # through the same buffer that readline filled
        assert proc.wait(timeout=10) == 0
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    assert rest == b"line2\nline3\n"


def test_stop_kills_after_timeout_when_sigterm_is_ignored():
    mp("run", "-d", "--name", "stubborn", "--network", "none", "busybox", "sh", "-c",
       "trap '' TERM; while true; do sleep 0.1; done")
    time.sleep(0.3)
    start = time.monotonic()
    mp("stop", "-t", "1", "stubborn")
    elapsed = time.monotonic() - start
    info = mp_json("inspect", "stubborn")[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    assert elapsed >= 1.0


def test_kill_with_signal():
    mp("run", "-d", "--name", "k", "--network", "none", "busybox", "sleep", "60")
    mp("kill", "-s", "USR1", "k")
    wait_for(lambda: mp_json("inspect", "k")[0]["State"]["ExitCode"] == 128 + signal.SIGUSR1,
             what="exit by SIGUSR1")
    assert mp("kill", "k", check=False).returncode == 125  # not running any more


def test_sigterm_to_foreground_run_reaches_the_container(via):
    proc = subprocess.Popen(MP + ["run", "--rm", "--network", "none", "busybox", "sh", "-c",
                                  "trap 'echo got TERM; exit 42' TERM; while true; do sleep 0.1; done"],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, **TEST_ENV})
    wait_for(lambda: "sh" in mp("ps").stdout, what="container running")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert out == "got TERM\n" and proc.returncode == 42


def test_exec_joins_namespaces_with_the_same_limits():
    mp("run", "-d", "--name", "ex", "--network", "none", "-e", "FROM_RUN=1", "busybox", "sleep", "60")
    out = mp("exec", "-e", "FROM_EXEC=2", "-w", "/tmp", "ex", "sh", "-c",
             'echo "$FROM_RUN $FROM_EXEC $(pwd) $(hostname)"; grep CapBnd /proc/self/status; ps -o comm').stdout
    lines = out.splitlines()
    assert lines[0] == "1 2 /tmp ex"
    assert lines[1] == "CapBnd:\t00000000a80425fb"
    assert {"pause", "sleep", "ps"} <= set(lines[2:])
    assert mp("exec", "ex", "sh", "-c", "exit 5", check=False).returncode == 5
    assert mp("exec", "ex", "nosuch", check=False).returncode == 127
    assert mp("exec", "ex", "mount", "-t", "tmpfs", "x", "/mnt", check=False).returncode != 0


def test_rm_leaves_nothing_behind():
    cid = mp("run", "-d", "--name", "gone", "--network", "none", "busybox", "sleep", "60").stdout.strip()
    pod_id = mp_json("inspect", "gone")[0]["Pod"]["Id"]
    pid = mp_json("inspect", "gone")[0]["State"]["Pid"]
    assert mp("rm", "gone", check=False).returncode == 125  # running
    mp("rm", "-f", "gone")
    assert not os.path.exists(f"/proc/{pid}")
    assert not (TEST_ROOT / "lib" / "containers" / cid).exists()
    assert not (TEST_ROOT / "lib" / "pods" / pod_id).exists()
    assert not (TEST_ROOT / "run" / "pods" / pod_id).exists()
    assert mp("ps", "-aq").stdout == "" and mp("pod", "ls", "-q").stdout == ""


def test_container_killed_behind_our_back_shows_exited_with_its_code():
    mp("run", "-d", "--name", "victim", "--network", "none", "busybox", "sleep", "60")
    pid = mp_json("inspect", "victim")[0]["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)  # dies while nobody watches
    wait_for(lambda: mp_json("inspect", "victim")[0]["State"]["Status"] == "exited", what="exited")
    assert mp_json("inspect", "victim")[0]["State"]["ExitCode"] == 137


def test_interactive_tty_shell(via):
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TEST_ENV)
        os.execv(sys.executable, MP + ["run", "--rm", "-it", "--network", "none", "busybox", "sh"])
    seen = b""

    def expect(token, timeout=10):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while token not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{token!r} not in {seen!r}")
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:  # EIO: the terminal's other side is closed
                    raise AssertionError(f"{token!r} not in {seen!r} (terminal closed)") from None
        return seen

    import fcntl, struct, termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    expect(b"# ")
    os.write(fd, b"tty; stty size\n")
    expect(b"33 101")
    assert b"/dev/pts/0" in seen  # the container's own devpts
    os.write(fd, b"sleep 30\n")
    time.sleep(0.5)
    os.write(fd, b"\x03")  # Ctrl-C goes to the container's foreground job
    os.write(fd, b"echo after-$((40+2))\n")
    expect(b"after-42")
    os.write(fd, b"exit 9\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 9


def test_pause_shows_as_slash_pause_and_no_host_path_leaks_into_the_pod():
    out = mp("run", "--rm", "--network", "none", "busybox", "sh", "-c",
             "ps -o pid,args; echo; cat /proc/1/cmdline | od -An -c").stdout
    table, _, cmdline = out.partition("\n\n")
    assert table.splitlines()[1].split() == ["1", "/pause"]
    assert cmdline.split() == ["/", "p", "a", "u", "s", "e", "\\0"]
    assert str(REPO) not in out


def test_etc_files_end_with_a_newline():
    for net in ("none", "host", None):
        args = ["--network", net] if net else []
        out = mp("run", "--rm", *args, "busybox", "sh", "-c",
                 "for f in /etc/hosts /etc/hostname /etc/resolv.conf; do "
                 "[ -s $f ] && tail -c 1 $f | od -An -c; done").stdout
        assert out.split() and set(out.split()) == {"\\n"}, (net, out)


def test_a_container_nested_deeper_than_python_recursion_is_removed_whole():
    # mkdir t; mv x t/; mv t x: every round nests the tree one level deeper
    # without ever using a long path (which the kernel caps at 4096 bytes).
    mp("run", "--name", "deep", "--network", "none", "busybox", "sh", "-c",
       "cd /tmp && mkdir x && i=0; while [ $i -lt 1500 ]; do mkdir t && mv x t/ && mv t x; i=$((i+1)); done",
       timeout=300)
    cid = mp_json("inspect", "deep")[0]["Id"]
    upper = TEST_ROOT / "lib" / "containers" / cid / "upper" / "tmp"
    fd, depth = os.open(upper / "x", os.O_RDONLY | os.O_DIRECTORY), 0
    try:  # the tree really is that deep (walked by fd: its paths exceed PATH_MAX)
        while True:
            try:
                child = os.open("x", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                break
            os.close(fd)
            fd, depth = child, depth + 1
    finally:
        os.close(fd)
    assert depth == 1500
    proc = mp("rm", "deep")
    assert proc.stderr == ""
    assert not (TEST_ROOT / "lib" / "containers" / cid).exists()


def test_a_container_gets_default_signal_dispositions_whatever_its_caller_ignores(via):
    """Python ignores SIGPIPE and SIGXFSZ, a shell's background job SIGINT
    and SIGQUIT: none of that reaches the container (`trap ... INT`, ^C and
    `yes | head` behave as under docker)."""
    def ignoring():
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
    proc = subprocess.run([sys.executable, "-m", "minipod", "run", "--rm", "busybox", "grep", "-E",
                           "^Sig(Ign|Blk)", "/proc/self/status"], env={**os.environ, **TEST_ENV},
                          capture_output=True, text=True, preexec_fn=ignoring, timeout=60)
    assert proc.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"], proc.stderr
