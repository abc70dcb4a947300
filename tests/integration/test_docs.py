"""The walkthroughs in docs/ are executed, so they cannot drift from the code.

Docs show the real defaults (network minipod, bridge minipod0, 10.244.0.0/16,
netns pins minipod-*); the test runs them against the test root with the
test network, so names are translated before running and matching.
"""

import os
import re
import subprocess

import pytest

from tests import docs_runner
from tests.conftest import REPO, TEST_ENV, TEST_ROOT
from tests.integration.conftest import wait_for, with_current_kubectl

TRANSLATIONS = [
    (re.compile(r"\bminipod-svc0\b"), "mptsvc0"),  # before the netns-pin rule below
    (re.compile(r"/etc/minipod/net\.d"), TEST_ENV["MINIPOD_CNI_CONF_DIR"]),
    (re.compile(r"/var/lib/minipod"), str(TEST_ROOT / "lib")),
    (re.compile(r"\bminipod(?=\.conflist|-\*-eth0|-<pod id>)"), "mptest"),
    (re.compile(r'"minipod"'), '"mptest"'),
    (re.compile(r"\bminipod-(?=[a-z])"), "mpt-"),
    (re.compile(r"\bminipod0\b"), "mptest0"),
    (re.compile(r"10\.244\.(\d+)\.(\d+)/16"), r"10.231.\1.\2/24"),
    (re.compile(r"10\.244\.0\.0/16"), "10.231.0.0/24"),
    (re.compile(r"(?<![\d.])10\.244\.0\.(\d+)/32"), r"10.231.0.\1/32"),  # a pod's address in a rule
    (re.compile(r"(?<![\d.])10\.244\.0\.(\d+)(?![\d/])"), r"10.231.0.\1"),  # the gateway, a pod's address
    # a ClusterIP (alone, or as iptables shows it, /32), in the suite's range
    (re.compile(r"(?<![\d.])10\.96\.(\d+)\.(\d+)(?=/32|[^\d./]|$)"), r"10.234.\1.\2"),
    (re.compile(r"\b198\.51\.100\.(\d+)\b"), r"198.18.0.\1"),  # a LoadBalancer IP, from the suite's pool
    (re.compile(r"\bKUBE-"), "MPTK-"),
    (re.compile(r"\bkube-netpol\b"), "mptk-netpol"),  # the NetworkPolicy rules' nftables table
    (re.compile(r"(?<=\.info:)80\b"), TEST_ENV["MINIPOD_INGRESS_HTTP_PORT"]),  # the ingress's port
    (re.compile(r"(?<=\.example:)80\b"), TEST_ENV["MINIPOD_INGRESS_HTTP_PORT"]),
]


def translate(text: str) -> str:
    for pattern, repl in TRANSLATIONS:
        text = pattern.sub(repl, text)
    return text


# The course's ClusterIP (docs/kubectl.md) is in the default service range;
# that doc runs with a service range holding it (routed to the suite's own
# service device while it runs, like the suite's own range).
DOC_ENV = {"kubectl.md": {"MINIPOD_SERVICE_CIDR": "10.107.0.0/16"}}


@pytest.mark.parametrize("doc", ["pause.md", "walkthrough.md", "ingress.md", "kubectl.md", "trace.md",
                                 "networkpolicy.md", "gateway.md"])
def test_walkthrough_runs_as_written(doc, tmp_path):
    """Each doc against the suite's root, set up as scripts/setup leaves a
    newcomer's (busybox and the ingress controller's nginx imported); a
    HOME of its own for kubectl's config and cache."""
    env = with_current_kubectl({**os.environ, **TEST_ENV, **DOC_ENV.get(doc, {}), "HOME": str(tmp_path)})
    home_config = re.compile(r"/root/\.kube/config")

    def translated(text):  # the kubeconfig's context keeps its name (TRANSLATIONS renames the network's)
        text = home_config.sub(f"{tmp_path}/.kube/config", translate(text))
        return text.replace('context to "mptest"', 'context to "minipod"')
    subprocess.run([str(REPO / "scripts" / "setup-images")], env=env, check=True, capture_output=True)
    try:
        failures = docs_runner.check(REPO / "docs" / doc, env=env, translate=translated)
    finally:
        # As the other tests expect the suite's root: busybox only. The
        # ingress controller's nginx pod goes in the agent's next passes
        # after the doc's last Ingress: its image is in use until then.
        wait_for(lambda: subprocess.run([str(REPO / ".venv" / "bin" / "minipod"), "image", "rm", "nginx"], env=env,
                                        capture_output=True).returncode == 0 or "nginx" not in image_names(env),
                 timeout=60, interval=0.5, what="the nginx image to be free to remove")
    assert not failures, "\n\n".join(failures)


def image_names(env) -> list:
    listing = subprocess.run([str(REPO / ".venv" / "bin" / "minipod"), "image", "ls"], env=env, capture_output=True,
                             text=True, check=True).stdout
    return [line.split()[0] for line in listing.splitlines()[1:]]
