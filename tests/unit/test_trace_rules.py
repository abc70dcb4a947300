"""How a traced rule of an iptables-nft table is found in `iptables -S`
(minipod.trace.iptables): rules with the same target told apart by what
nftables writes natively (marks, ports, conntrack state)."""

import pytest

from minipod.trace import iptables

CHAIN = [
    '-A KUBE-POD-FW-X -m comment --comment "a verdict of its own: forget an earlier chain" '
    "-j MARK --set-xmark 0x0/0x10000",
    '-A KUBE-POD-FW-X -m addrtype --src-type LOCAL -m comment --comment "the node may always reach x/a" -j RETURN',
    '-A KUBE-POD-FW-X -m comment --comment "ingress of x/a: policy x/p" -j KUBE-NWPLCY-Y',
    '-A KUBE-POD-FW-X -m mark --mark 0x10000/0x10000 -m comment --comment "allowed by a policy above" -j RETURN',
    '-A KUBE-POD-FW-X -m comment --comment "default deny of ingress of x/a (policies selecting it: x/p)" '
    "-j REJECT --reject-with icmp-port-unreachable",
]
POLICY = ['-A KUBE-NWPLCY-Y -p tcp -m comment --comment "x/p ingress rule 1: from pods pod=b, port TCP/80" '
          "-m tcp --dport 80 -m set --match-set KUBE-SRC-Z src -j MARK --set-xmark 0x10000/0x10000",
          '-A KUBE-NWPLCY-Y -p tcp -m comment --comment "x/p ingress rule 1: from pods pod=b, port TCP/81" '
          "-m tcp --dport 81 -m set --match-set KUBE-SRC-Z src -j MARK --set-xmark 0x10000/0x10000"]
DISPATCH = ['-A KUBE-ROUTER-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "replies" '
            "-j RETURN",
            '-A KUBE-ROUTER-FORWARD -d 10.244.0.5/32 -m comment --comment "ingress of pod x/a" -g KUBE-POD-FW-X',
            '-A KUBE-ROUTER-FORWARD -d 10.244.0.6/32 -m comment --comment "ingress of pod x/b" -g KUBE-POD-FW-W']


@pytest.fixture(autouse=True)
def chains():
    iptables._cache.update({("filter", "KUBE-POD-FW-X"): CHAIN, ("filter", "KUBE-NWPLCY-Y"): POLICY,
                            ("filter", "KUBE-ROUTER-FORWARD"): DISPATCH})
    yield
    iptables.forget()


@pytest.mark.parametrize("chain, text, verdict, index", [
    ("KUBE-POD-FW-X", "meta mark set mark and 0xfffeffff", "continue", 0),
    ("KUBE-POD-FW-X", "xt match addrtype  return", "return", 1),
    ("KUBE-POD-FW-X", "jump KUBE-NWPLCY-Y", "jump KUBE-NWPLCY-Y", 2),
    ("KUBE-POD-FW-X", "meta mark & 0x00010000 == 0x00010000  return", "return", 3),
    ("KUBE-POD-FW-X", "xt target REJECT", "drop", 4),
    ("KUBE-NWPLCY-Y", "meta l4proto tcp  tcp dport 81 xt match set meta mark set mark or 0x10000", "continue", 1),
    ("KUBE-ROUTER-FORWARD", "ip daddr 10.244.0.6  goto KUBE-POD-FW-W", "goto KUBE-POD-FW-W", 2),
])
def test_each_traced_rule_is_its_own_iptables_rule(chain, text, verdict, index):
    rules = {"KUBE-POD-FW-X": CHAIN, "KUBE-NWPLCY-Y": POLICY, "KUBE-ROUTER-FORWARD": DISPATCH}[chain]
    assert iptables.find("filter", chain, text, verdict) == rules[index]
