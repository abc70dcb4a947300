"""Shared test set-up: every test runs against its own minipod root, CNI
config dir, netns prefix, bridge and subnet, so the suite never touches a
user's pods or the default minipod0 bridge."""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent

# Set before any minipod module is imported by a test.
TEST_ROOT = Path(tempfile.mkdtemp(prefix="mptroot-"))
TEST_ENV = {
    "MINIPOD_ROOT": str(TEST_ROOT),
    "MINIPOD_CNI_CONF_DIR": str(TEST_ROOT / "net.d"),
    "MINIPOD_NETNS_PREFIX": "mpt-",
    "MINIPOD_DEFAULT_NETWORK": "mptest",
    "MINIPOD_DEFAULT_BRIDGE": "mptest0",
    "MINIPOD_DEFAULT_SUBNET": "10.231.0.0/24",
    "MINIPOD_CGROUP_PARENT": f"minipod-test-{os.getpid()}",
    # The agent's CrashLoopBackOff, shortened (documented in docs/agent.md):
    # 1 s doubling to 4 s instead of 10 s doubling to 5 minutes.
    "MINIPOD_BACKOFF_BASE": "1",
    "MINIPOD_BACKOFF_MAX": "4",
    # The service proxy's own chains, device and ranges: a user's KUBE-*
    # rules, minipod-svc0 and 10.96.0.0/12 are never touched by the suite.
    "MINIPOD_CHAIN_PREFIX": "MPTK",
    "MINIPOD_SERVICE_DEVICE": "mptsvc0",
    "MINIPOD_SERVICE_CIDR": "10.234.0.0/16",
    "MINIPOD_LB_POOL": "198.18.0.0/24",
    # The ingress nginx's ports on the node (80 and 443 outside the suite).
    "MINIPOD_INGRESS_HTTP_PORT": "18480",
    "MINIPOD_INGRESS_HTTPS_PORT": "18443",
    # The Kubernetes API's port (6443 outside the suite).
    "MINIPOD_API_PORT": "16443",
}
os.environ.update(TEST_ENV)

# Property-based tests stay bounded in time: 300 examples each, no per-example
# deadline (a loaded CI machine is slow, not wrong); the failing example is
# printed, and `--hypothesis-seed` reproduces a run.
settings.register_profile("minipod", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "minipod"))


def pytest_sessionfinish(session, exitstatus):
    """Unit-only runs leave the (empty) test root behind otherwise."""
    try:
        TEST_ROOT.rmdir()
    except OSError:
        pass  # not empty: an integration run kept it after a failure
