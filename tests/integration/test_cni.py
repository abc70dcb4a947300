"""Pod networking through the real CNI plugins, with real traffic.

Traffic goes only to pod IPs on the test bridge, to loopback, and to
"external" and "client" hosts that the tests create as network namespaces
in 198.18.0.0/15 (checked free first: the host's own mirror, resolvers and
routes are never in it), never to a real address.
"""

import json
import os
import shutil
import stat
import subprocess
import textwrap

import pytest

from tests.conftest import TEST_ROOT
from tests.integration.conftest import (mp, mp_json, netns_pins, pod_ip, settle, sh, state_snapshot,
                                       take_free_range, wait_for)

CONF_DIR = TEST_ROOT / "net.d"
HTTP_GET = "echo -e 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port}"


def _web_pod(name, *args):
    mp("pod", "create", "--name", name, *args)
    mp("run", "-d", "--pod", name, "--name", f"{name}-httpd", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    return pod_ip(name)


def _curl(url, *extra):
    return sh(f"curl -s --max-time 3 {' '.join(extra)} {url}", check=False).stdout


@pytest.fixture
def outside_host():
    """A namespace playing an external host at 198.18.100.2, reachable from
    the host through a veth; it sees what leaves the node."""
    take_free_range("198.18.100.0/24")
    sh("ip netns add mpt-ext && ip link add mpte-h type veth peer name mpte-x netns mpt-ext")
    sh("ip addr add 198.18.100.1/24 dev mpte-h && ip link set mpte-h up")
    sh("ip -n mpt-ext addr add 198.18.100.2/24 dev mpte-x && ip -n mpt-ext link set mpte-x up "
       "&& ip -n mpt-ext link set lo up")
    yield "198.18.100.2"
    sh("ip link del mpte-h", check=False)
    sh("ip netns del mpt-ext", check=False)


@pytest.fixture
def client_host():
    """A namespace playing an outside client at 198.18.103.2 whose route
    to the host's 198.18.103.1 is a veth."""
    take_free_range("198.18.103.0/24")
    sh("ip netns add mpt-cli && ip link add mptc-h type veth peer name mptc-x netns mpt-cli")
    sh("ip addr add 198.18.103.1/24 dev mptc-h && ip link set mptc-h up")
    sh("ip -n mpt-cli addr add 198.18.103.2/24 dev mptc-x && ip -n mpt-cli link set mptc-x up")
    yield "198.18.103.1"
    sh("ip link del mptc-h", check=False)
    sh("ip netns del mpt-cli", check=False)


def test_default_network_written_on_first_use_like_docker0():
    ip = _web_pod("first")
    conf = json.loads((CONF_DIR / "mptest.conflist").read_text())
    assert [p["type"] for p in conf["plugins"]] == ["bridge", "portmap", "firewall"]
    assert ip.startswith("10.231.0.")
    assert "10.231.0.1/24" in sh("ip -o -4 addr show mptest0").stdout
    route = sh("ip netns exec mpt-first ip route").stdout
    assert "default via 10.231.0.1 dev eth0" in route
    assert sh("ip netns exec mpt-first ip -o link show lo").stdout.count("UP") >= 1
    assert "master mptest0" in sh("ip -o link show type veth").stdout
    # The pod's own masquerade: the bridge plugin's per-container chain,
    # jumped to from POSTROUTING for the pod's address (not a chain that
    # some earlier run or another runtime left in the nat table).
    pod_id = mp_json("pod", "inspect", "first")[0]["Id"]
    nat = sh("iptables-save -t nat").stdout.splitlines()
    jumps = [l for l in nat if l.startswith("-A POSTROUTING ") and f"-s {ip}/32 " in l and pod_id in l]
    assert len(jumps) == 1, nat
    chain = jumps[0].rsplit(" -j ", 1)[1]
    rules = [l for l in nat if l.startswith(f"-A {chain} ")]
    assert chain.startswith("CNI-") and all(pod_id in l for l in rules), rules
    assert any(l.endswith("-j MASQUERADE") and "! -d 224.0.0.0/4" in l for l in rules), rules


def test_pod_to_pod_gateway_and_host_to_pod():
    ip_a = _web_pod("a")
    mp("pod", "create", "--name", "b")
    out = mp("run", "--rm", "--pod", "b", "busybox", "sh", "-c",
             f"ping -c 1 -W 2 {ip_a} >/dev/null && echo ping-ok; ping -c 1 -W 2 10.231.0.1 >/dev/null && echo gw-ok; "
             + HTTP_GET.format(ip=ip_a, port=80)).stdout
    assert "ping-ok" in out and "gw-ok" in out and "hello from minipod pod" in out
    assert _curl(f"http://{ip_a}/") == "hello from minipod pod\n"


def test_host_port_from_outside_from_localhost_and_hairpin(client_host):
    _web_pod("pub", "-p", "18080:80")
    # an outside client reaching the host's address
    out = sh(f"ip netns exec mpt-cli curl -s --max-time 3 http://{client_host}:18080/", check=False).stdout
    assert out == "hello from minipod pod\n"
    # the host itself, through 127.0.0.1 (portmap snat + route_localnet)
    assert _curl("http://127.0.0.1:18080/") == "hello from minipod pod\n"
    # hairpin: the pod reaching its own service through the host port
    out = mp("exec", "pub-httpd", "sh", "-c", HTTP_GET.format(ip="10.231.0.1", port=18080)).stdout
    assert "hello from minipod pod" in out
    dnat = sh("iptables-save -t nat").stdout
    assert any(l.startswith(":CNI-DN-") for l in dnat.splitlines())
    assert "--dport 18080" in dnat


def test_snat_external_host_sees_the_hosts_address(outside_host):
    mp("pod", "create", "--name", "leaver")
    listener = subprocess.Popen(
        ["ip", "netns", "exec", "mpt-ext", "python3", "-c", textwrap.dedent("""
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("198.18.100.2", 9000)); s.listen(1); s.settimeout(15)
            print("ready", flush=True)
            conn, addr = s.accept(); print(addr[0], flush=True); conn.close()
        """)], stdout=subprocess.PIPE, text=True)
    assert listener.stdout.readline().strip() == "ready"
    mp("run", "--rm", "--pod", "leaver", "busybox", "sh", "-c", f"echo hi | nc -w 2 {outside_host} 9000")
    seen = listener.stdout.readline().strip()
    listener.wait(timeout=10)
    assert seen == "198.18.100.1", "the external host must see the node's address, not the pod's"
    assert seen != pod_ip("leaver")


def test_teardown_leaves_no_veth_ip_cache_or_chain():
    ip = _web_pod("tear", "-p", "18081:80")
    pod_id = mp_json("pod", "inspect", "tear")[0]["Id"]
    host_veth = mp_json("network", "inspect", "mptest")[0]["Containers"][pod_id]["HostVeth"]
    assert host_veth in sh("ip -o link show").stdout
    assert (TEST_ROOT / "lib" / "cni" / "networks" / "mptest" / ip).exists()
    mp("pod", "rm", "-f", "tear")
    settle()  # pod rm returns before the CNI DEL (docs/agent.md): what a next look finds once it is done
    assert host_veth not in sh("ip -o link show").stdout
    assert not (TEST_ROOT / "lib" / "cni" / "networks" / "mptest" / ip).exists()
    assert list((TEST_ROOT / "lib" / "cni" / "results").iterdir()) == []
    nat = sh("iptables-save -t nat").stdout
    assert pod_id not in nat and "18081" not in nat
    assert not os.path.exists("/run/netns/mpt-tear")


def test_host_port_taken_by_another_pod_or_a_host_process():
    _web_pod("owner", "-p", "18082:80")
    before = netns_pins()
    proc = mp("pod", "create", "--name", "thief", "-p", "18082:80", check=False)
    assert proc.returncode == 125
    assert proc.stderr.strip() == "minipod: host port 18082/tcp is already used by pod 'owner'"
    proc = mp("run", "--rm", "-p", "18082:80", "busybox", "true", check=False)
    assert proc.returncode == 125
    import socket
    with socket.socket() as s:
        s.bind(("0.0.0.0", 18083))
        s.listen(1)
        proc = mp("pod", "create", "--name", "thief2", "-p", "18083:80", check=False)
    assert "already in use on this host" in proc.stderr and proc.returncode == 125
    assert netns_pins() == before
    assert [p["Name"] for p in mp_json("pod", "ls", "--format", "json")] == ["owner"]


def _write_conflist(name, conf):
    path = CONF_DIR / f"{name}.conflist"
    path.write_text(json.dumps(conf) if not isinstance(conf, str) else conf)
    return path


def _assert_nothing_half_made(before_pins):
    assert netns_pins() == before_pins
    assert mp("pod", "ls", "-q").stdout == "" and mp("ps", "-aq").stdout == ""
    assert list((TEST_ROOT / "lib" / "cni" / "results").iterdir()) == []


@pytest.mark.parametrize("case,conf,message", [
    ("broken", "{not json", "broken network config"),
    ("missing", {"cniVersion": "1.0.0", "name": "mpt-missing", "plugins": [{"type": "no-such-plugin"}]},
     "CNI plugin 'no-such-plugin' not found"),
    ("failing", {"cniVersion": "1.0.0", "name": "mpt-failing", "plugins": [
        {"type": "bridge", "bridge": "mptfail0", "ipam": {"type": "host-local",
                                                           "ranges": [[{"subnet": "not-a-subnet"}]]}}]},
     "CNI plugin bridge ADD failed"),
    ("half", {"cniVersion": "1.0.0", "name": "mpt-half", "plugins": [
        {"type": "bridge", "bridge": "mpthalf0", "isGateway": True, "ipMasq": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.232.0.0/24"}]],
                  "dataDir": str(TEST_ROOT / "lib" / "cni" / "networks")}},
        {"type": "tuning", "sysctl": {"net.no.such.sysctl": "1"}}]}, "CNI plugin tuning ADD failed"),
])
def test_cni_failures_are_one_line_125_and_leave_nothing(case, conf, message):
    name = conf["name"] if isinstance(conf, dict) else "mpt-broken"
    path = _write_conflist(name, conf)
    before = netns_pins()
    try:
        proc = mp("run", "--rm", "--network", name, "busybox", "true", check=False)
        assert proc.returncode == 125, proc.stderr
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        _assert_nothing_half_made(before)
        if case == "half":  # the bridge ADD that worked was undone
            ipdir = TEST_ROOT / "lib" / "cni" / "networks" / "mpt-half"
            assert not [f for f in ipdir.iterdir() if f.name[0].isdigit()]
            assert "10.232.0." not in sh("iptables-save -t nat").stdout
    finally:
        path.unlink()
        sh("ip link del mptfail0; ip link del mpthalf0", check=False)


def test_a_different_chain_ptp_with_tuning():
    _write_conflist("mpt-ptp", {
        "cniVersion": "1.0.0", "name": "mpt-ptp",
        "plugins": [{"type": "ptp", "ipMasq": True,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.233.0.0/24"}]],
                              "routes": [{"dst": "0.0.0.0/0"}],
                              "dataDir": str(TEST_ROOT / "lib" / "cni" / "networks")}},
                    {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.rp_filter": "2"}},
                    {"type": "portmap", "capabilities": {"portMappings": True}}]})
    try:
        mp("pod", "create", "--name", "ptp", "--network", "mpt-ptp", "-p", "18084:80")
        mp("run", "-d", "--pod", "ptp", "--name", "ptp-web", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
        ip = pod_ip("ptp")
        assert ip.startswith("10.233.0.")
        assert wait_for(lambda: _curl(f"http://{ip}/"), what="ptp pod") == "hello from minipod pod\n"
        assert mp("exec", "ptp-web", "cat", "/proc/sys/net/ipv4/conf/eth0/rp_filter").stdout.strip() == "2"
        assert "default via 10.233.0.1" in sh("ip -n mpt-ptp route").stdout
        assert _curl("http://127.0.0.1:18084/") == "hello from minipod pod\n"
        mp("pod", "rm", "-f", "ptp")
        settle()
        assert ip not in sh("ip route").stdout
    finally:
        (CONF_DIR / "mpt-ptp.conflist").unlink()


RECORDER = """#!/bin/sh
# A CNI plugin that records what the runtime gave it and passes prevResult on.
d=%s
input=$(cat)
n=$(ls "$d" | grep -c json)
printf '%%s' "$input" > "$d/$n-$CNI_COMMAND.json"
env | grep '^CNI_' | sort > "$d/$n-$CNI_COMMAND.env"
if [ "$CNI_COMMAND" = VERSION ]; then
  echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'; exit 0
fi
if [ "$CNI_COMMAND" = ADD ]; then
  printf '%%s' "$input" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["prevResult"]))'
fi
"""


def test_runtime_side_of_the_spec_with_a_recording_plugin(tmp_path):
    plugin_dir = tmp_path / "bin"
    plugin_dir.mkdir()
    record = tmp_path / "calls"
    record.mkdir()
    recorder = plugin_dir / "recorder"
    recorder.write_text(RECORDER % record)
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    _write_conflist("mpt-rec", {
        "cniVersion": "1.0.0", "name": "mpt-rec",
        "plugins": [{"type": "bridge", "bridge": "mptrec0", "isGateway": True,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.234.0.0/24"}]],
                              "dataDir": str(TEST_ROOT / "lib" / "cni" / "networks")}},
                    {"type": "portmap", "capabilities": {"portMappings": True}},
                    {"type": "recorder", "capabilities": {"portMappings": True, "bandwidth": True},
                     "someUnknownKey": {"kept": True}}]})
    env = {"MINIPOD_CNI_PATH": f"{plugin_dir}:/usr/lib/cni:/opt/cni/bin"}
    try:
        mp("pod", "create", "--name", "rec", "--network", "mpt-rec", "-p", "18085:80", env=env)
        pod_id = mp_json("pod", "inspect", "rec")[0]["Id"]
        ip = pod_ip("rec")
        mp("pod", "rm", "rec", env=env)
        settle()
        calls = sorted(p.name for p in record.iterdir())
        # VERSION negotiation first (then cached), ADD, and DEL
        assert calls == ["0-VERSION.env", "0-VERSION.json", "1-ADD.env", "1-ADD.json", "2-DEL.env", "2-DEL.json"]
        add = json.loads((record / "1-ADD.json").read_text())
        assert add["name"] == "mpt-rec" and add["cniVersion"] == "1.0.0"
        assert add["runtimeConfig"] == {"portMappings": [{"hostPort": 18085, "containerPort": 80, "protocol": "tcp"}]}
        assert "capabilities" not in add and add["someUnknownKey"] == {"kept": True}
        assert add["prevResult"]["ips"][0]["address"] == ip + "/24"  # chained from bridge via portmap
        env_add = (record / "1-ADD.env").read_text().splitlines()
        assert f"CNI_CONTAINERID={pod_id}" in env_add and "CNI_IFNAME=eth0" in env_add
        assert "CNI_NETNS=/run/netns/mpt-rec" in env_add
        assert f"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=minipod;K8S_POD_NAME=rec;K8S_POD_INFRA_CONTAINER_ID={pod_id}" in env_add
        # DEL: first (reverse order), with the cached result and the same capability args
        dele = json.loads((record / "2-DEL.json").read_text())
        assert dele["runtimeConfig"] == add["runtimeConfig"]
        assert dele["prevResult"]["ips"] == add["prevResult"]["ips"]
        assert "18085" not in sh("iptables-save -t nat").stdout
        mp("pod", "create", "--name", "rec2", "--network", "mpt-rec", env=env)
        mp("pod", "rm", "rec2", env=env)
        settle()
        assert not (record / "3-VERSION.json").exists() and (record / "3-ADD.json").exists()
    finally:
        (CONF_DIR / "mpt-rec.conflist").unlink()
        sh("ip link del mptrec0", check=False)


def test_network_create_ls_inspect_rm():
    mp("network", "create", "mpt-n1", "--subnet", "10.235.0.0/24", "--bridge", "mptn1")
    assert mp("network", "create", "mpt-n2", "--subnet", "10.235.0.128/25", check=False).stderr.strip() == \
        "minipod: subnet 10.235.0.128/25 overlaps 10.235.0.0/24 of network 'mpt-n1'"
    assert mp("network", "create", "mpt-n3", "--subnet", "10.235.1.0/24", "--bridge", "mptn1",
              check=False).returncode == 125
    assert mp("network", "create", "mpt-n4", "--subnet", "300.1.0.0/24", check=False).returncode == 125
    assert "mpt-n1" in mp("network", "ls").stdout
    mp("pod", "create", "--name", "onn1", "--network", "mpt-n1")
    info = mp_json("network", "inspect", "mpt-n1")[0]
    assert info["Name"] == "mpt-n1" and info["Driver"] == "bridge"
    assert info["IPAM"]["Config"] == [{"Subnet": "10.235.0.0/24", "Gateway": "10.235.0.1"}]
    (member,) = info["Containers"].values()
    assert member["Name"] == "onn1" and member["IPv4Address"].startswith("10.235.0.")
    assert member["MacAddress"] == sh("ip netns exec mpt-onn1 cat /sys/class/net/eth0/address").stdout.strip()
    assert "used by pod 'onn1'" in mp("network", "rm", "mpt-n1", check=False).stderr
    text = mp("network", "show", "mpt-n1").stdout
    assert "mptn1" in text and "pod onn1" in text and member["IPv4Address"] in text
    assert mp("network", "show", "--dot", "mpt-n1").stdout.startswith("graph minipod {")
    mp("pod", "rm", "onn1")
    mp("network", "rm", "mpt-n1")
    assert "mptn1" not in sh("ip -o link show").stdout
    assert mp("network", "inspect", "mpt-n1", check=False).returncode == 125


def test_network_none_and_host():
    out = mp("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert [l.split(":")[1].strip() for l in out.splitlines()] == ["lo"]
    out = mp("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link").stdout
    inside = {l.split(":")[1].strip().split("@")[0] for l in out.splitlines()}
    host = {l.split(":")[1].strip().split("@")[0] for l in sh("ip -o link").stdout.splitlines()}
    assert inside == host and "mptest0" in inside  # the host's own interfaces
    assert mp("run", "--rm", "--network", "none", "-p", "1:1", "busybox", "true", check=False).returncode == 125


def test_etc_files_name_the_pod():
    mp("pod", "create", "--name", "named", "--hostname", "named-host")
    ip = pod_ip("named")
    out = mp("run", "--rm", "--pod", "named", "busybox", "sh", "-c",
             "cat /etc/hosts; echo ---; cat /etc/hostname; echo ---; cat /etc/resolv.conf").stdout
    hosts, hostname, resolv = out.split("---\n")
    assert f"{ip}\tnamed-host" in hosts
    assert hostname == "named-host\n"
    assert "nameserver 127." not in resolv


def _udev_settled():
    """Wait for systemd-udevd, where it runs, to finish with new devices
    (it would rewrite a veth's MAC then, without minipod's .link file)."""
    if shutil.which("udevadm") and sh("udevadm control --ping", check=False).returncode == 0:
        sh("udevadm settle --timeout=30")
        return True
    return False


def test_host_veth_keeps_the_mac_the_cni_result_recorded():
    pod_id = mp("pod", "create", "--name", "macs").stdout.strip()
    udev = _udev_settled()
    cached = json.loads((TEST_ROOT / "lib" / "cni" / "results" / f"mptest-{pod_id}-eth0").read_text())
    host_veths = [i for i in cached["result"]["interfaces"] if not i.get("sandbox") and i["name"].startswith("veth")]
    assert len(host_veths) == 1
    veth = host_veths[0]
    assert open(f"/sys/class/net/{veth['name']}/address").read().strip() == veth["mac"], \
        f"the MAC of {veth['name']} changed after CNI ADD (udev running: {udev})"


def test_cni_check_passes_then_sees_a_broken_pod():
    mp("pod", "create", "--name", "checked")
    _udev_settled()
    out = mp("pod", "check", "checked").stdout
    assert out.count("\tok") == 2  # loopback and the network
    ip = mp_json("pod", "inspect", "checked")[0]["IPAddress"]
    sh(f"ip -n mpt-checked addr del {ip} dev eth0")  # break it behind minipod's back
    proc = mp("pod", "check", "checked", check=False)
    assert proc.returncode == 125 and "CHECK failed" in proc.stderr


def test_pods_reach_out_when_forward_policy_is_drop(outside_host):
    """Docker sets FORWARD's policy to DROP; the firewall plugin's accepts keep pods working."""
    policy = "DROP" if "-P FORWARD DROP" in sh("iptables -S FORWARD").stdout else "ACCEPT"
    sh("iptables -P FORWARD DROP")
    try:
        mp("pod", "create", "--name", "dropped")
        out = mp("run", "--rm", "--pod", "dropped", "busybox", "ping", "-c", "1", "-W", "2", outside_host).stdout
        assert "1 packets received" in out
    finally:
        sh(f"iptables -P FORWARD {policy}")


def test_network_overlapping_another_conflist_or_a_host_route_is_refused():
    other = {"cniVersion": "1.0.0", "name": "mptother", "plugins": [
        {"type": "bridge", "bridge": "mptother0", "ipam": {"type": "host-local", "subnet": "10.236.0.0/24"}}]}
    try:
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        (CONF_DIR / "mptother.conflist").write_text(json.dumps(other))
        # A route of the host's own (this kernel has no dummy links: a veth serves).
        sh("ip link add mptroute0 type veth peer name mptroute1 && ip addr add 10.237.1.1/24 dev mptroute0 "
           "&& ip link set mptroute0 up")
        before = state_snapshot()
        for subnet, reason in (("10.236.0.128/25", "overlaps 10.236.0.0/24 of network 'mptother'"),
                               ("10.237.0.0/16", "overlaps the host's route to 10.237.1.0/24 via mptroute0")):
            proc = mp("network", "create", "mptnew", "--subnet", subnet, check=False)
            assert proc.returncode == 125 and reason in proc.stderr, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1
        # The default network is checked on first use as well: nothing is
        # written, no pod is made, and the line says how to choose another.
        env = {"MINIPOD_DEFAULT_NETWORK": "mptdef", "MINIPOD_DEFAULT_BRIDGE": "mptdef0",
               "MINIPOD_DEFAULT_SUBNET": "10.237.0.0/16"}
        proc = mp("run", "--rm", "busybox", "true", env=env, check=False)
        assert proc.returncode == 125 and "MINIPOD_DEFAULT_SUBNET" in proc.stderr, proc.stderr
        after = state_snapshot()
        assert after == before, set(after["files"]) ^ set(before["files"])
        assert not (CONF_DIR / "mptdef.conflist").exists()
        mp("network", "create", "mptnew", "--subnet", "10.238.0.0/24")  # clear of both: fine
        mp("network", "rm", "mptnew")
    finally:
        sh("ip link del mptroute0", check=False)
        (CONF_DIR / "mptother.conflist").unlink(missing_ok=True)
