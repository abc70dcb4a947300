"""State derivation from records and the kernel, and CLI argument handling.

Neither needs root: statuses are derived from this test process's own
/proc entry, and bad arguments are refused before anything touches the system.
"""

import os
import subprocess
import sys

import pytest

from minipod import procfs
from minipod.core import container, pod

ME = {"pid": os.getpid(), "start": procfs.start_time(os.getpid()), "boot": procfs.boot_id()}


def test_container_states():
    assert container.status({"pid": None}) == "created"
    assert container.status({**ME}) == "running"
    assert container.status({**ME, "start": ME["start"] + 1}) == "exited"  # the pid was reused
    assert container.status({**ME, "boot": "another-boot"}) == "exited"    # recorded before a reboot


def test_pod_states():
    assert pod.status({"pause": None}) == "created"
    assert pod.status({"pause": None, "desired": "stopped"}) == "stopped"
    assert pod.status({"pause": dict(ME)}) == "running"
    assert pod.status({"pause": {**ME, "start": 1}}) == "stopped"          # pause died


def _cli(root, *args):
    env = {**os.environ, "MINIPOD_ROOT": str(root), "MINIPOD_CNI_CONF_DIR": str(root / "net.d")}
    return subprocess.run([sys.executable, "-m", "minipod", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("args,message", [
    (["run", "--nosuchflag", "busybox"], "No such option '--nosuchflag'"),
    (["run", "-p", "80", "busybox"], "invalid port mapping '80'"),
    (["run", "-e", "1BAD=x", "busybox"], "invalid environment variable '1BAD=x'"),
    (["run", "-u", "root", "busybox"], "invalid user 'root'"),
    (["run", "-d", "--rm", "busybox"], "--rm and -d cannot be combined"),
    (["kill", "-s", "NOPE", "x"], "invalid signal 'NOPE'"),
    (["pod", "create", "-p", "1:2:3:4"], "invalid port mapping"),
    (["network", "create", "x", "--subnet", "10.0.0.1/24"], "invalid subnet '10.0.0.1/24'"),
    (["nosuchcommand"], "No such command"),
])
def test_bad_arguments_are_one_line_and_125(tmp_path, args, message):
    root = tmp_path / "root"
    proc = _cli(root, *args)
    assert proc.returncode == 125
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and proc.stdout == ""
    assert not root.exists()  # refused before any state, lock or directory was made


def test_command_after_image_is_passed_through_untouched(tmp_path):
    # flags after IMAGE belong to the container's command, as with docker
    proc = _cli(tmp_path / "root", "run", "-p", "bad", "busybox", "ls", "-p", "--nosuch")
    assert "invalid port mapping 'bad'" in proc.stderr and "No such option" not in proc.stderr
