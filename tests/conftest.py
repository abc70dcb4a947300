"""Shared test set-up: every test runs against its own minipod root, CNI
config dir, netns prefix, bridge and subnet, so the suite never touches a
user's pods or the default minipod0 bridge."""

import os
import tempfile
from pathlib import Path

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
}
os.environ.update(TEST_ENV)


def pytest_sessionfinish(session, exitstatus):
    """Unit-only runs leave the (empty) test root behind otherwise."""
    try:
        TEST_ROOT.rmdir()
    except OSError:
        pass  # not empty: an integration run kept it after a failure
