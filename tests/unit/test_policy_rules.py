"""NetworkPolicy resolved and rendered (minipod.roles.policy): who is
isolated, what each rule allows, and the rules line by line in both views."""

import pytest

from minipod.roles.policy import iptables_rules, nft_rules, resolve, ruleset

A = resolve.Pod("x", "a", "10.244.0.5", (("pod", "a"),), ((("http", "TCP"), 8080),))
B = resolve.Pod("x", "b", "10.244.0.6", (("pod", "b"),), ((("http", "TCP"), 9090),))
C = resolve.Pod("y", "c", "10.244.0.7", (("pod", "c"),))


@pytest.fixture(autouse=True)
def node_names(monkeypatch):
    monkeypatch.delenv("MINIPOD_CHAIN_PREFIX", raising=False)  # the names a node shows, not the suite's


def _policy(name, ns, spec):
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


ALLOW_B = _policy("allow-b", "x", {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
                                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}],
                                                "ports": [{"port": 80, "protocol": "TCP"}]}]})


def test_a_policy_isolates_the_pods_it_selects_in_its_direction_only():
    plan = resolve.plan([ALLOW_B], [A, B, C], {})
    assert [(pod.key, [p.key for p in pols]) for pod, pols in plan.pods("ingress")] == [("x/a", ["x/allow-b"])]
    assert plan.pods("egress") == []
    [rule] = plan.policies[0].rules
    assert (rule.anyone, rule.selectors, [p.key for p in rule.pods]) == (False, True, ["x/b"])
    assert rule.ports == (resolve.Port("TCP", 80, 80),)


def test_policy_types_default_from_the_rules_present():
    plan = resolve.plan([_policy("e", "x", {"podSelector": {}, "egress": [{}]})], [A, B], {})
    assert [p.direction for p in plan.policies] == ["ingress", "egress"]


def test_peers_and_and_or_and_the_namespace_name_label():
    both = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}},
            "podSelector": {"matchLabels": {"pod": "c"}}}
    either = [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}, {"podSelector": {"matchLabels": {"pod": "b"}}}]
    plan = resolve.plan([_policy("and", "x", {"podSelector": {}, "ingress": [{"from": [both]}]}),
                         _policy("or", "x", {"podSelector": {}, "ingress": [{"from": either}]})],
                        [A, B, C], {"y": {"team": "blue"}})
    assert [p.key for p in plan.policies[0].rules[0].pods] == ["y/c"]
    assert [p.key for p in plan.policies[1].rules[0].pods] == ["x/b", "y/c"]


def test_a_named_port_means_its_number_on_each_destination():
    ingress = _policy("named", "x", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})
    egress = _policy("out", "y", {"podSelector": {}, "policyTypes": ["Egress"],
                                  "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": "http"}]}]})
    missing = _policy("none", "x", {"podSelector": {}, "ingress": [{"ports": [{"port": "dns", "protocol": "UDP"}]}]})
    plan = resolve.plan([ingress, egress, missing], [A, B, C], {})
    by_key = {(p.key, p.direction): p for p in plan.policies}
    for key in (("x/named", "ingress"), ("y/out", "egress")):
        ports = by_key[key].rules[0].ports
        assert [(p.first, [q.key for q in p.only]) for p in ports] == [(8080, ["x/a"]), (9090, ["x/b"])], key
    none = by_key[("x/none", "ingress")]
    assert (none.rules[0].ports, none.rules[0].every_port) == ((), False)  # a name no pod has: it allows nothing
    assert iptables_rules.render(resolve.plan([missing], [A], {})).chains[iptables_rules.policy_chain(none)] == [
        f'-A {iptables_rules.policy_chain(none)} -m comment --comment "x/none ingress: allows nothing (its named '
        'ports name no port of these pods)" -j RETURN']


def test_iptables_view_line_by_line():
    out = iptables_rules.render(resolve.plan([ALLOW_B], [A, B, C], {}))
    pod, pol = iptables_rules.pod_chain(A, "ingress"), iptables_rules.policy_chain(resolve.plan([ALLOW_B], [A], {})
                                                                                        .policies[0])
    [peers] = out.sets
    assert out.chains["KUBE-ROUTER-FORWARD"][1:] == [
        f'-A KUBE-ROUTER-FORWARD -d 10.244.0.5/32 -m comment --comment "ingress of pod x/a" -g {pod}']
    assert out.chains[pod] == [
        f'-A {pod} -m comment --comment "a verdict of its own: forget an earlier chain" '
        "-j MARK --set-xmark 0x0/0x10000",
        f'-A {pod} -m addrtype --src-type LOCAL -m comment --comment "the node may always reach x/a" -j RETURN',
        f'-A {pod} -m comment --comment "ingress of x/a: policy x/allow-b" -j {pol}',
        f'-A {pod} -m mark --mark 0x10000/0x10000 -m comment --comment "allowed by a policy above" -j RETURN',
        f'-A {pod} -m comment --comment "default deny of ingress of x/a (policies selecting it: x/allow-b)" '
        "-j REJECT --reject-with icmp-port-unreachable"]
    assert out.chains[pol] == [
        f'-A {pol} -m comment --comment "x/allow-b ingress rule 1: from pods pod=b, port TCP/80" '
        f"-p tcp -m tcp --dport 80 -m set --match-set {peers} src -j MARK --set-xmark 0x10000/0x10000"]
    assert out.sets[peers].members == (("10.244.0.6", "x/b", False),)
    assert peers.startswith("KUBE-SRC-") and len(peers) <= 31  # ipset's limit


def test_an_ip_block_is_a_net_set_with_nomatch_exceptions_and_no_zero_prefix():
    block = _policy("b", "x", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {
        "cidr": "0.0.0.0/0", "except": ["10.244.0.0/16"]}}]}], "policyTypes": ["Egress"]})
    out = iptables_rules.render(resolve.plan([block], [A], {}))
    [name] = out.sets
    text = iptables_rules.ipset_input(out.sets, [name], [])
    assert text.splitlines() == [
        f"create {name}-T hash:net family inet comment -exist", f"flush {name}-T",
        f'add {name}-T 0.0.0.0/1 comment "ipBlock 0.0.0.0/0"', f'add {name}-T 128.0.0.0/1 comment "ipBlock 0.0.0.0/0"',
        f'add {name}-T 10.244.0.0/16 comment "except of 0.0.0.0/0" nomatch',
        f"create {name} hash:net family inet comment -exist", f"swap {name}-T {name}", f"destroy {name}-T"]


def test_nftables_view_and_a_pod_that_comes_changes_only_a_set():
    before = nft_rules.render(resolve.plan([ALLOW_B], [A, C], {}))
    after = nft_rules.render(resolve.plan([ALLOW_B], [A, B, C], {}))
    assert before.maps["ingress-pods"] == ["10.244.0.5 : jump pod-UMLM545U-x/a/ingress"]
    assert after.chains["policy-TWF557XE-x/allow-b/ingress"] == [
        "tcp dport 80 ip saddr @peers-H3IWDY6B-x/allow-b/ingress/1 counter meta mark set meta mark or 0x10000 "
        'comment "x/allow-b ingress rule 1: from pods pod=b, port TCP/80"']
    change = ruleset.changes(before, after)
    assert change == {"chains": [], "stale_chains": [], "sets": ["peers-H3IWDY6B-x/allow-b/ingress/1"],
                      "stale_sets": [], "maps": []}
    text = nft_rules.transaction(after, change, first=False)
    assert "flush set ip kube-netpol peers-H3IWDY6B-x/allow-b/ingress/1" in text
    assert 'add element ip kube-netpol peers-H3IWDY6B-x/allow-b/ingress/1 { 10.244.0.6 comment "x/b" }' in text
    assert "chain" not in text  # counters of every chain keep counting
    assert ruleset.nothing(ruleset.changes(after, nft_rules.render(resolve.plan([ALLOW_B], [A, B, C], {}))))


def test_a_policy_without_rules_says_it_allows_nothing():
    deny = _policy("deny", "x", {"podSelector": {}, "policyTypes": ["Ingress"]})
    out = nft_rules.render(resolve.plan([deny], [A], {}))
    assert out.chains[nft_rules.policy_chain(resolve.plan([deny], [A], {}).policies[0])] == [
        'return comment "x/deny ingress: allows nothing (no rule)"']


def test_comments_fit_what_each_tool_keeps():
    long_name = "a-policy-whose-name-is-long-" * 8
    wide = _policy(long_name[:250], "x", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {f"k{i}": "v" * 40 for i in range(4)}}}], "ports": [{"port": 80}]}]})
    plan = resolve.plan([wide], [A], {})
    for view, limit in ((nft_rules, 128), (iptables_rules, 255)):
        comments = [line.split('comment "', 1)[1].split('"', 1)[0] for lines in view.render(plan).chains.values()
                    for line in lines if 'comment "' in line]
        assert comments and max(len(c.encode()) for c in comments) <= limit, view
        assert any(c.endswith("...") for c in comments)


def test_sctp_ports_in_both_views():
    """SCTP as TCP and UDP (this machine's kernel has no SCTP to send it:
    the rules load, and are checked here as text)."""
    sctp = _policy("s", "x", {"podSelector": {}, "policyTypes": ["Ingress"],
                              "ingress": [{"ports": [{"protocol": "SCTP", "port": 5000, "endPort": 5001}]}]})
    plan = resolve.plan([sctp], [A], {})
    [line] = iptables_rules.render(plan).chains[iptables_rules.policy_chain(plan.policies[0])]
    assert "-p sctp -m sctp --dport 5000:5001 -j MARK" in line
    [rule] = nft_rules.render(plan).chains[nft_rules.policy_chain(plan.policies[0])]
    assert rule.startswith("sctp dport 5000-5001 counter meta mark set")


def test_the_last_chain_a_packet_needs_is_entered_by_goto():
    """FORWARD: a source's egress by jump (the destination's ingress comes
    after it), the destination's ingress by goto (nothing below can match
    the packet); INPUT holds only egress, so it is a goto there."""
    both = _policy("b", "x", {"podSelector": {}, "ingress": [{}], "egress": [{}]})
    out = iptables_rules.render(resolve.plan([both], [A], {}))
    egress, ingress = iptables_rules.pod_chain(A, "egress"), iptables_rules.pod_chain(A, "ingress")
    assert out.chains["KUBE-ROUTER-FORWARD"][1:] == [
        f'-A KUBE-ROUTER-FORWARD -s 10.244.0.5/32 -m comment --comment "egress of pod x/a" -j {egress}',
        f'-A KUBE-ROUTER-FORWARD -d 10.244.0.5/32 -m comment --comment "ingress of pod x/a" -g {ingress}']
    assert out.chains["KUBE-ROUTER-INPUT"][1:] == [
        f'-A KUBE-ROUTER-INPUT -s 10.244.0.5/32 -m comment --comment "egress of pod x/a" -g {egress}']
