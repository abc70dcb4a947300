"""The nftables proxy mode without root: kube-proxy's table, chain names
and rules (compared with kube-proxy's own expected output for the same
services, from its proxier_test.go), and the deltas a change writes; and
how the proxy (both modes) tells stale conntrack entries."""

import pytest

from minipod.roles.proxy import nft_rules


@pytest.fixture(autouse=True)
def kube_names(monkeypatch):
    monkeypatch.delenv("MINIPOD_CHAIN_PREFIX", raising=False)


def _svc(ns, name, ip, port_name="p80", port=80, **spec):
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": ip, "ports": [{"name": port_name, "port": port, "protocol": "TCP",
                                                 **({"nodePort": spec.pop("nodePort")} if "nodePort" in spec else {})}],
                     **spec}}


def _eps(*ips, port=80, name="p80"):
    return {"subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": name, "port": port}]}]}


def _lines(state):
    return nft_rules.full(state).splitlines()


def test_a_cluster_ip_service_is_kube_proxys_table():
    st = nft_rules.render([_svc("ns1", "svc1", "172.30.0.41")], {("ns1", "svc1"): _eps("10.180.0.1")},
                          "10.0.0.0/8", "172.30.0.0/16")
    out = _lines(st)
    # kube-proxy's TestOverallNFTablesRules, svc1, line for line
    for line in ["add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80",
                 "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 "
                 "ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
                 "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap "
                 "{ 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }",
                 "add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
                 "add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 "
                 "ip saddr 10.180.0.1 jump mark-for-masquerade",
                 "add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 "
                 "meta l4proto tcp dnat to 10.180.0.1:80",
                 "add element ip kube-proxy cluster-ips { 172.30.0.41 }",
                 "add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : "
                 "goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
                 # the base of the table
                 "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }",
                 "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
                 "add rule ip kube-proxy masquerading masquerade fully-random",
                 'add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop '
                 'comment "Drop traffic to unallocated ClusterIPs"',
                 # minipod's cluster DNS is a local address in the range, not a Service: spared
                 'add rule ip kube-proxy cluster-ips-check ip daddr 172.30.0.10 return '
                 'comment "cluster DNS (dnsmasq on the service device)"']:
        assert line in out, line
    # one table replaces whatever was there, in one transaction
    assert out[:3] == ['add table ip kube-proxy { comment "rules for kube-proxy" ; }', "delete table ip kube-proxy",
                       'add table ip kube-proxy { comment "rules for kube-proxy" ; }']


def test_two_endpoints_node_port_affinity_and_no_endpoints():
    svc4 = _svc("ns4", "svc4", "172.30.0.44", type="NodePort", nodePort=3003)
    svc5 = _svc("ns5", "svc5", "172.30.0.45", sessionAffinity="ClientIP")
    svc6 = _svc("ns6", "svc6", "172.30.0.46")
    st = nft_rules.render([svc4, svc5, svc6], {("ns4", "svc4"): _eps("10.180.0.4", "10.180.0.5"),
                                               ("ns5", "svc5"): _eps("10.180.0.3")}, "10.0.0.0/8", "172.30.0.0/16")
    out = _lines(st)
    assert ("add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { "
            "0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , "
            "1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }") in out
    assert "add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 jump mark-for-masquerade" in out
    assert "add element ip kube-proxy service-nodeports { tcp . 3003 : goto external-LAUZTJTB-ns4/svc4/tcp/p80 }" in out
    aff = "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
    assert f"add set ip kube-proxy {aff} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }}" in out
    assert (f"add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr @{aff} "
            "goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80") in out
    assert (f"add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 update @{aff} "
            "{ ip saddr }") in out
    assert ('add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : '
            "goto reject-chain }") in out
    assert not any("svc6/tcp" in line for line in out)  # no chains for a service without endpoints


def test_one_more_service_is_a_delta_of_its_own_size():
    base = [_svc("default", f"s{i}", f"10.96.{i // 250}.{i % 250 + 1}") for i in range(500)]
    eps = {("default", f"s{i}"): _eps("10.244.0.5", "10.244.0.6") for i in range(500)}
    before = nft_rules.render(base, eps, "10.244.0.0/16", "10.96.0.0/12")
    after = nft_rules.render(base + [_svc("default", "new", "10.96.9.9")],
                             {**eps, ("default", "new"): _eps("10.244.0.7")}, "10.244.0.0/16", "10.96.0.0/12")
    delta = nft_rules.delta(before, after).splitlines()
    assert len(delta) == 8, delta  # 2 chains, 4 rules, 2 elements
    assert nft_rules.delta(after, after) == ""
    back = nft_rules.delta(after, before).splitlines()
    # elements go first, then chains are flushed before any is deleted
    assert back[0].startswith("delete element") and back[-1].startswith("delete chain")
    assert [l.split()[0] for l in back] == ["delete", "delete", "flush", "flush", "delete", "delete"]


def test_a_changed_endpoint_rewrites_one_service_chain():
    svc = _svc("ns1", "svc1", "172.30.0.41")
    one = nft_rules.render([svc], {("ns1", "svc1"): _eps("10.180.0.1")}, "10.0.0.0/8", "172.30.0.0/16")
    two = nft_rules.render([svc], {("ns1", "svc1"): _eps("10.180.0.1", "10.180.0.2")}, "10.0.0.0/8", "172.30.0.0/16")
    delta = nft_rules.delta(one, two).splitlines()
    assert "flush chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80" in delta
    assert not any("service-ips" in l for l in delta)  # the map element stays


def test_table_follows_the_chain_prefix(monkeypatch):
    monkeypatch.setenv("MINIPOD_CHAIN_PREFIX", "MPTK")
    assert nft_rules.table() == "mptk-proxy"


def test_conntrack_lines_and_what_is_served():
    from minipod.roles.proxy import conntrack
    stale = ("tcp      6 118 SYN_SENT src=10.0.0.1 dst=10.96.0.11 sport=40000 dport=80 [UNREPLIED] "
             "src=10.96.0.11 dst=10.0.0.1 sport=80 dport=40000 mark=0 use=1")
    natted = ("tcp      6 118 SYN_SENT src=10.0.0.1 dst=10.96.0.11 sport=40001 dport=80 [UNREPLIED] "
              "src=10.244.0.5 dst=10.0.0.1 sport=8080 dport=40001 mark=0 use=1")
    assert conntrack.parse(stale) == ("tcp", "10.0.0.1", "10.96.0.11", "40000", "80", "10.96.0.11")
    assert conntrack.parse(natted)[5] == "10.244.0.5"  # NATed: the reply comes from the pod
    assert conntrack.parse("unknown  2 19 src=10.231.0.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22") is None
    svc = _svc("ns1", "svc1", "172.30.0.41", type="LoadBalancer", nodePort=30001)
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}
    assert conntrack.served([svc, _svc("ns1", "idle", "172.30.0.42")], {("ns1", "svc1"): _eps("10.180.0.1")}) == \
        {("172.30.0.41", "tcp", "80"), ("198.51.100.1", "tcp", "80")}
