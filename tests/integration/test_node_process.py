"""Commands through the node process (docs/agent.md): while the agent runs,
`minipod` is a thin client that hands its arguments, environment and its
very stdin, stdout and stderr to a worker forked from the agent; and `run
--rm` returns as soon as the container is gone and its name free, the pod's
network teardown going on behind it (and so does `pod rm`).

What a user sees must not change (test_run runs its exit-code, stdin,
signal and terminal tests both ways, through the `via` fixture). Here: that
a command really runs in a worker with the caller's own descriptors,
environment and directory; that a killed worker kills its client the same
way; that a caller in another namespace runs its command itself; that a
change of minipod's source hands over to a new agent; and that the deferred
teardown survives crashes at each of its steps (MINIPOD_FAULT), finished by
`gc` or by the next agent."""

import os
import signal
import subprocess

import pytest

from tests.conftest import TEST_ENV, TEST_ROOT
from tests.integration.conftest import MP, leaks, mp, running_agent, settle, sh, wait_for

ENV = {**os.environ, **TEST_ENV}
REMOVING = TEST_ROOT / "lib" / "pods-removing"


def serving():
    mp("agent", "start")  # returns once the agent serves commands
    return running_agent()


def workers(agent):
    """The agent's children: the workers running commands."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == agent:
            out.append(int(pid))
    return out


def fd_target(pid, fd):
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None


def removals():
    return sorted(p.name for p in REMOVING.iterdir()) if REMOVING.is_dir() else []


def test_a_command_runs_in_a_worker_of_the_agent_with_the_callers_own_stdout():
    agent = serving()
    reader, writer = os.pipe()
    client = subprocess.Popen(MP + ["run", "--rm", "--network", "none", "busybox", "sh", "-c", "sleep 2; echo done"],
                              stdout=writer, env=ENV)
    os.close(writer)
    pipe = fd_target(client.pid, 1)
    worker = wait_for(lambda: [w for w in workers(agent) if fd_target(w, 1) == pipe], timeout=10,
                      what="a worker of the agent writing to the client's own pipe")
    assert "minipod.node" in open(f"/proc/{worker[0]}/cmdline").read().replace("\0", " ")
    with os.fdopen(reader) as out:
        assert out.read() == "done\n"
    assert client.wait(timeout=30) == 0


def test_the_worker_has_the_callers_environment_and_directory():
    """A relative path is the caller's (busybox.tar.gz is in the test root,
    the agent's directory is /), and so is a setting from the environment
    (the agent itself was started without it)."""
    serving()

    def import_here(**env):
        return subprocess.run(MP + ["image", "import", "busybox.tar.gz", "relative"], cwd=TEST_ROOT,
                              env={**ENV, **env}, capture_output=True, text=True, timeout=60)
    limited = import_here(MINIPOD_IMAGE_MAX_ENTRIES="5")
    assert limited.returncode == 125 and "more than 5 entries" in limited.stderr, limited.stderr
    imported = import_here()
    assert imported.returncode == 0, imported.stderr
    mp("image", "rm", "relative")


def test_a_worker_killed_kills_its_client_with_the_same_signal():
    agent = serving()
    client = subprocess.Popen(MP + ["run", "--rm", "--network", "none", "busybox", "sleep", "30"], env=ENV)
    worker = wait_for(lambda: workers(agent), timeout=10, what="the worker")
    wait_for(lambda: "sleep" in mp("ps").stdout, what="the container running")
    os.kill(worker[0], signal.SIGKILL)
    assert client.wait(timeout=10) == -signal.SIGKILL


def test_a_caller_in_another_network_namespace_runs_its_command_itself():
    """The agent's worker would see the host's network, not the caller's."""
    serving()
    sh("ip netns add mpt-caller")
    try:
        proc = subprocess.run(["ip", "netns", "exec", "mpt-caller", *MP, "ps"], env=ENV, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("CONTAINER ID")
    finally:
        sh("ip netns del mpt-caller")
    log = mp("agent", "logs", "-n", "5").stdout
    assert "command run by its client: the caller is in another" in log  # mnt first: ip netns exec makes one too


def test_a_change_of_minipods_source_hands_over_to_a_new_agent():
    """A worker forked from an agent that has the old code loaded would mix
    old and new: the agent hands over to a new one at once."""
    import minipod
    old = serving()
    probe = os.path.join(os.path.dirname(minipod.__file__), "_handover_probe.py")
    try:
        with open(probe, "w") as f:
            f.write("")
    finally:
        os.unlink(probe)
    wait_for(lambda: running_agent() not in (None, old), timeout=20, what="a new agent")
    mp("agent", "start")  # until it serves
    assert mp("run", "--rm", "--network", "none", "busybox", "echo", "still").stdout == "still\n"
    assert "handing over to a new agent" in mp("agent", "logs", "-n", "10").stdout


# ------------------------------------------------------------ deferred teardown

@pytest.mark.parametrize("ports", [[], ["-p", "18191:80"]])
def test_run_rm_with_the_same_name_and_port_twice_in_a_row(via, ports):
    """The name is free when `run --rm` returns; a host port is taken again
    once the first pod's rules are gone (the second waits for that)."""
    for _ in range(2):
        assert mp("run", "--rm", "--name", "twice", *ports, "busybox", "true").returncode == 0
    settle()
    assert "18191" not in sh("iptables-save -t nat").stdout
    assert mp("ps", "-aq").stdout == "" and mp("pod", "ls", "-q").stdout == ""
    assert leaks() == []


@pytest.mark.parametrize("step", ["pod-removal-begun", "pod-rm-torn-down"])
def test_the_remover_killed_half_way_then_gc_releases_everything(via, step):
    """Killed before the caller has its exit code, the command dies as a
    crash would; after (the CNI DEL done), the caller has had its code."""
    proc = mp("run", "--rm", "--name", "cut", "-p", "18192:80", "busybox", "sh", "-c", "exit 3", check=False,
              env={"MINIPOD_FAULT": step})
    assert proc.returncode == (-signal.SIGKILL if step == "pod-removal-begun" else 3), proc.stderr
    wait_for(lambda: not _removers(), timeout=20, what="the remover gone")
    assert mp("pod", "ls", "-q").stdout == ""  # the name is free either way
    found = mp("gc", "--dry-run", check=False).stdout
    assert "pod-removal\tcut" in found, found
    mp("gc")
    assert "18192" not in sh("iptables-save -t nat").stdout
    assert removals() == [] and leaks() == []


def test_pod_rm_frees_the_name_at_once_and_a_cut_teardown_is_gcs(via):
    """`pod rm` returns before the CNI DEL too: the name is free at once, a
    new pod that wants the same host port waits for the old rules."""
    mp("pod", "create", "--name", "again", "-p", "18194:80")
    mp("pod", "rm", "again")
    mp("pod", "create", "--name", "again", "-p", "18194:80")
    assert mp("pod", "rm", "again", env={"MINIPOD_FAULT": "pod-rm-torn-down"}).returncode == 0
    wait_for(lambda: not _removers(), timeout=20, what="the remover gone")
    assert mp("pod", "ls", "-q").stdout == ""
    assert "pod-removal\tagain" in mp("gc", "--dry-run", check=False).stdout
    mp("gc")
    assert "18194" not in sh("iptables-save -t nat").stdout
    assert removals() == [] and leaks() == []


def test_the_node_process_killed_mid_teardown_its_restart_finishes_it():
    agent = serving()
    assert mp("run", "--rm", "--name", "orphan", "-p", "18193:80", "busybox", "true",
              env={"MINIPOD_FAULT": "pod-rm-torn-down"}).returncode == 0
    wait_for(lambda: not workers(agent), timeout=20, what="the worker to die")
    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: running_agent() is None, what="the agent gone")
    assert len(removals()) == 1
    mp("agent", "start")
    wait_for(lambda: not removals(), timeout=20, what="the new agent finishing the removal")
    assert "finished removing pod orphan" in mp("agent", "logs", "-n", "10").stdout
    assert "18193" not in sh("iptables-save -t nat").stdout
    assert leaks() == []


def _removers():
    """Processes of this test root other than the agent: a worker, or the
    half of a local `run --rm` that goes on after its caller has the code."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if b"minipod" in cmd and f"MINIPOD_ROOT={TEST_ROOT}".encode() in env and int(pid) != running_agent():
            out.append(int(pid))
    return out


def test_a_stopped_agent_does_not_hang_a_command_and_never_runs_it_twice(tmp_path):
    """An agent that accepts the connection but takes no command (SIGSTOP:
    wedged) costs a command NODE_WAIT seconds, then the client runs it
    itself and says so once; the worker forked when the agent resumes gets
    no go and runs nothing."""
    agent = serving()
    shared = tmp_path / "shared"
    shared.mkdir()
    os.kill(agent, signal.SIGSTOP)
    try:
        proc = mp("run", "--rm", "-v", f"{shared}:/d", "busybox", "sh", "-c", "echo ran >> /d/count; echo done",
                  env={"MINIPOD_NODE_WAIT": "2"}, timeout=60)
        notes = [l for l in proc.stderr.splitlines() if "did not take the command" in l]
        assert proc.stdout == "done\n" and len(notes) == 1, proc.stderr
        assert notes[0] == "minipod: the node process did not take the command within 2 s; running it here " \
                           "(see `minipod agent status`)"
        # run here after all, the command's signals are its own again: ^C ends it
        slow = subprocess.Popen(MP + ["run", "--rm", "--name", "slow", "busybox", "sleep", "60"],
                                env={**ENV, "MINIPOD_NODE_WAIT": "2"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_for(lambda: mp("ps", "-q", env={"MINIPOD_LOCAL": "1"}).stdout.strip(), timeout=30,
                 what="the container to run")
        slow.send_signal(signal.SIGINT)
        assert slow.wait(timeout=20) == 130
    finally:
        os.kill(agent, signal.SIGCONT)
    # The agent now accepts the stale connection and forks a worker for it (before the next command's,
    # which it accepts after): that worker must not run the command again.
    assert mp("ps", "-q").stdout == "" and running_agent() == agent  # and it serves again
    wait_for(lambda: not workers(agent), timeout=30, what="the resumed agent's workers to end")
    settle()
    assert (shared / "count").read_text() == "ran\n"
    assert leaks() == []
