"""`minipod gc` says what really happened to each thing it found, and can
release an attachment whose DEL cannot run.

Three ways a pod's CNI DEL cannot run after `pod rm` (which returns before
its network is released): the network's conflist and plugin deleted (a
user cleaning up an experiment), a plugin whose DEL fails, a plugin whose
DEL hangs. Each time: the teardown's failure is in the agent's log and in
`gc --dry-run`'s reason, `gc` says `failed` and exits 1 (never `removed`),
and `gc --force` releases what minipod knows by name (cache entry,
host-local IPs, nat rules naming the container id) and says what it left.
"""

import shutil
import stat
import subprocess
import time

import pytest

from tests.conftest import TEST_ROOT
from tests.integration.conftest import leaks, mp, mp_json, settle, sh

CONF_DIR = TEST_ROOT / "net.d"
IPAM_DIR = TEST_ROOT / "lib" / "cni" / "networks"
AGENT_LOG = TEST_ROOT / "lib" / "agent.log"

FAILING = """#!/bin/sh
# Passes prevResult on at ADD; refuses DEL with a CNI error.
input=$(cat)
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
ADD) printf '%s' "$input" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["prevResult"]))' ;;
DEL) echo '{"cniVersion":"1.0.0","code":999,"msg":"refusing to let go"}'; exit 1 ;;
esac
"""

HANGING = FAILING.replace(
    """DEL) echo '{"cniVersion":"1.0.0","code":999,"msg":"refusing to let go"}'; exit 1 ;;""",
    "DEL) sleep 299 ;;  # a child that holds stdout: killing the plugin alone would not end the wait")


def _bridge(name, subnet, more=()):
    return {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": f"{name.replace('-', '')[:10]}0", "isGateway": True, "ipMasq": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(IPAM_DIR)}},
        *more]}


@pytest.fixture
def plugins(tmp_path):
    """A plugin directory searched before the system's; the networks it
    makes are removed afterwards."""
    made = []
    d = tmp_path / "bin"
    d.mkdir()

    def add(name, text=None, copy_of=None):
        path = d / name
        if copy_of:
            shutil.copy(copy_of, path)
        else:
            path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return path

    def network(conf):
        import json
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        path = CONF_DIR / f"{conf['name']}.conflist"
        path.write_text(json.dumps(conf))
        made.append((path, conf["plugins"][0]["bridge"]))
        return path

    add.dir, add.network = d, network
    yield add
    settle()
    mp("gc", "--force", check=False, timeout=120, env={"MINIPOD_CNI_TIMEOUT": "2"})  # what a failed test left
    for path, bridge in made:
        path.unlink(missing_ok=True)
        sh(f"ip link del {bridge}", check=False)


def _env(plugins, **more):
    return {"MINIPOD_CNI_PATH": f"{plugins.dir}:/usr/lib/cni", **more}


def _ip_files(network):
    d = IPAM_DIR / network
    return sorted(f.name for f in d.iterdir() if f.name[0].isdigit()) if d.is_dir() else []


def _nat_rules_of(pod_id):
    return [l for l in sh("iptables-save -t nat").stdout.splitlines() if pod_id in l]


def _pod_on(network, name, env, *create_args):
    """A pod on ``network``: (its id, its attachment's cache key)."""
    mp("pod", "create", "--name", name, "--network", network, *create_args, env=env)
    pod_id = mp_json("pod", "inspect", name)[0]["Id"]
    return pod_id, f"{network}-{pod_id}-eth0"


def _gc(*args, env):
    proc = mp("gc", *args, env=env, check=False, timeout=120)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def test_conflist_and_plugin_gone_gc_says_failed_then_force_releases(plugins):
    for name in ("bridge", "host-local", "portmap", "loopback"):  # the network's own plugin directory
        plugins(name, copy_of=f"/usr/lib/cni/{name}")
    conflist = plugins.network(_bridge("mpt-gone", "10.236.0.0/24",
                                       more=[{"type": "portmap", "capabilities": {"portMappings": True}}]))
    env = {"MINIPOD_CNI_PATH": str(plugins.dir)}
    pod_id, key = _pod_on("mpt-gone", "gone", env, "-p", "18097:80")
    assert _ip_files("mpt-gone") and _nat_rules_of(pod_id)
    # The user cleans up: the network's conflist and its plugin go, and the pod with them.
    conflist.unlink()
    (plugins.dir / "bridge").unlink()
    assert mp("pod", "rm", "gone", env=env).stdout == "gone\n"
    settle()
    missing = f"CNI plugin 'bridge' not found in {plugins.dir}"
    # Where the user looks next: the agent's log (the teardown ran after the command), gc --dry-run's reason.
    assert f"pod gone: network teardown failed: {missing}" in AGENT_LOG.read_text()
    code, lines, _ = _gc("--dry-run", env=env)
    assert code == 1 and f"leaked\tcni-attachment\t{key}: its DEL failed: {missing}" in lines, lines
    # gc: failed, twice, never "removed"; the hint says what --force would do.
    for _ in range(2):
        code, lines, err = _gc(env=env)
        assert code == 1 and lines == [f"failed\tcni-attachment\t{key}: {missing}"], lines
        ip = _ip_files("mpt-gone")[0]
        assert f"gc: {key}: `minipod gc --force` would release minipod's cache entry, IP {ip} (host-local), " \
               "the nat rules naming its container id; it would leave nothing minipod knows of" in err, err
    # The portmap DNAT went with portmap's own DEL (it ran first); bridge's masquerade rules are left:
    # the jump from POSTROUTING and the rules of its own chain, which goes too.
    masquerade = _nat_rules_of(pod_id)
    assert "18097" not in sh("iptables-save -t nat").stdout and len(masquerade) >= 2, masquerade
    code, lines, _ = _gc("--force", env=env)
    assert code == 0 and lines == [
        f"forced\tcni-attachment\t{key}: its DEL could not run ({missing}); released: IP {ip} (host-local), "
        f"{len(masquerade) + 1} nat rule(s) and chain(s) naming it, minipod's cache entry; "
        "left: nothing minipod knows of"], lines
    assert _ip_files("mpt-gone") == [] and _nat_rules_of(pod_id) == []
    assert _gc("--dry-run", env=env) == (0, [], "")
    assert leaks() == []


@pytest.mark.parametrize("name,script,subnet,timeout,error", [
    ("fail", FAILING, "10.236.1.0/24", "60", "CNI plugin mptfail DEL failed: refusing to let go (code 999)"),
    ("hang", HANGING, "10.236.2.0/24", "2", "CNI plugin mpthang DEL timed out after 2s (killed)"),
])
def test_a_del_that_fails_or_hangs_is_reported_with_its_error(plugins, name, script, subnet, timeout, error):
    """A plugin refusing DEL (its error JSON), and one hanging with a child that holds its stdout (killed with
    it after MINIPOD_CNI_TIMEOUT)."""
    plugin, network = f"mpt{name}", f"mpt-{name}"
    plugins(plugin, script)
    plugins.network(_bridge(network, subnet, more=[{"type": plugin}]))
    env = _env(plugins, MINIPOD_CNI_TIMEOUT=timeout)
    pod_id, key = _pod_on(network, name, env)
    mp("pod", "rm", name, env=env)
    settle()
    assert f"pod {name}: network teardown failed: {error}" in AGENT_LOG.read_text()
    started = time.monotonic()
    code, lines, _ = _gc(env=env)
    assert time.monotonic() - started < 30  # the limit, not the plugin's sleep
    assert code == 1 and lines == [f"failed\tcni-attachment\t{key}: {error}"], lines
    assert subprocess.run(["pgrep", "-f", "sleep 299"], capture_output=True).stdout == b""  # its child went too
    # bridge's DEL ran (the chain is undone in reverse, each plugin tried): its IP and rules are gone already
    assert _ip_files(network) == [] and _nat_rules_of(pod_id) == []
    code, lines, _ = _gc("--force", env=env)
    assert code == 0 and lines == [
        f"forced\tcni-attachment\t{key}: its DEL could not run ({error}); released: minipod's cache entry; "
        f"left: {plugin}: whatever it keeps of its own (unknown to minipod)"], lines
    assert _gc("--dry-run", env=env) == (0, [], "")
    assert leaks() == []


def test_dry_run_waits_for_a_teardown_under_way_instead_of_reporting_it(plugins):
    """A teardown slower than the command (a DEL taking 2 s) is not a leftover."""
    plugins("mptslow", FAILING.replace(
        """DEL) echo '{"cniVersion":"1.0.0","code":999,"msg":"refusing to let go"}'; exit 1 ;;""",
        "DEL) sleep 2 ;;"))
    plugins.network(_bridge("mpt-slow", "10.236.3.0/24", more=[{"type": "mptslow"}]))
    env = _env(plugins)
    _pod_on("mpt-slow", "slow", env)
    mp("pod", "rm", "slow", env=env)
    code, lines, err = _gc("--dry-run", env=env)  # at once: the DEL is still sleeping
    assert (code, lines) == (0, []), (lines, err)
    assert leaks() == []
