"""No host command can wedge the node: one that hangs in the agent's pass
is killed after its time limit (MINIPOD_COMMAND_TIMEOUT), its children
with it, reported as an Event of the Node (as the real kubectl shows it),
and tried again; meanwhile the node goes on serving commands and making
pods, and once the command works again the rules come and the Event goes.

The hang is a stand-in `iptables-restore` (it sleeps) first on the agent's
PATH: the real one cannot be made to hang on purpose."""

import json
import os
import shutil
import subprocess

from tests.conftest import TEST_ENV, TEST_ROOT
from tests.integration.conftest import leaks, mp, sh, wait_for
from tests.integration.test_services import WEB, apply

DEBIAN_KUBECTL = "/var/cache/minipod/kubectl-1.20/root/usr/bin/kubectl"
HANGS = "#!/bin/sh\n# stands in for iptables-restore: hangs, holding its output\nsleep 2999\n"


def _kubectl_events(tmp_path):
    kubectl = shutil.which("kubectl") or DEBIAN_KUBECTL
    env = {**os.environ, **TEST_ENV, "KUBECONFIG": str(TEST_ROOT / "etc" / "admin.kubeconfig"),
           "HOME": str(tmp_path)}
    proc = subprocess.run([kubectl, "get", "events", "-o", "json"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [e for e in json.loads(proc.stdout)["items"] if e["involvedObject"]["kind"] == "Node"]


def _sleepers():
    return subprocess.run(["pgrep", "-f", "sleep 2999"], capture_output=True, text=True).stdout.split()


def test_a_hanging_host_command_is_killed_reported_and_retried(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "iptables-restore").write_text(HANGS)
    (fake / "iptables-restore").chmod(0o755)
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "MINIPOD_COMMAND_TIMEOUT": "2", "MINIPOD_PROXY_MODE": "iptables"}
    mp("agent", "start", env=env)  # the agent runs its passes with this PATH
    mp("kubeconfig")  # the API server, for kubectl
    try:
        apply(tmp_path, WEB)
        events = wait_for(lambda: _kubectl_events(tmp_path), timeout=60, what="the Node's Event")
        assert events[0]["reason"] == "FailedToSyncProxyRules" and events[0]["type"] == "Warning"
        assert events[0]["message"] == "iptables-restore timed out after 2s (killed)", events[0]
        assert events[0]["source"]["component"] == "minipod-agent"
        # The node goes on: commands are served and the Deployment's pods are made and run.
        wait_for(lambda: mp("get", "pods").stdout.count("Running") == 2, timeout=60, what="the pods to run")
        assert "MPTK-SERVICES" not in sh("iptables-save -t nat").stdout
        assert "timed out after 2s (killed)" in (TEST_ROOT / "lib" / "agent.log").read_text()
        wait_for(lambda: not _sleepers(), timeout=10, what="the hung command's child to be killed")
        # It works again: the next try (the pass retries with a back-off) writes the rules, the Event goes.
        (fake / "iptables-restore").unlink()
        wait_for(lambda: "MPTK-SERVICES" in sh("iptables-save -t nat").stdout, timeout=60, what="the rules")
        wait_for(lambda: not _kubectl_events(tmp_path), timeout=30, what="the Event to go")
    finally:
        mp("api", "stop", check=False)
    assert not _sleepers()
    mp("delete", "-f", tmp_path / "svc.yaml")
    wait_for(lambda: leaks() == [], timeout=60, interval=1, what="the agent to remove what the objects made")


def test_a_pool_holding_a_destination_the_host_uses_is_refused(tmp_path):
    """The overlap guard of the service range and LoadBalancer pool runs
    every time the proxy sets up and looks beyond the host's routes: here
    the pool holds the agent's proxy server (reached through the default
    route, as a package mirror or a resolver would be)."""
    env = {"MINIPOD_LB_POOL": "198.18.77.0/24", "https_proxy": "http://198.18.77.5:3128"}
    mp("agent", "start", env=env)
    apply(tmp_path, WEB)
    refusal = "198.18.77.0/24 is the host's own: the host uses 198.18.77.5 (the proxy of $https_proxy)"
    wait_for(lambda: refusal in (TEST_ROOT / "lib" / "agent.log").read_text(), timeout=60, what="the refusal")
    assert sh("ip route show 198.18.77.0/24").stdout == ""  # never routed to the dropping device
    assert "MPTK-SERVICES" not in sh("iptables-save -t nat").stdout  # no rule before the routes
    mp("delete", "-f", tmp_path / "svc.yaml")
    wait_for(lambda: leaks() == [], timeout=60, interval=1, what="the agent to remove what the objects made")
