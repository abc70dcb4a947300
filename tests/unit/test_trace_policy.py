"""The policy verdicts a trace reads from the rules a packet matched
(trace/policy.py): which isolated pod, which direction, which rule; as the
report's lines and as the events the UI draws (a refusal in red at its pod)."""

from minipod.roles.policy import nft_rules
from minipod.trace import nftrace, policy, report


def step(chain, comment, verdict, kind="rule"):
    return nftrace.Step("ip", nft_rules.table(), chain, kind, f'counter comment "{comment}"', verdict)


def packet(*steps):
    return nftrace.Packet("1", [nftrace.Step("ip", "filter", "FORWARD", "packet", "ip saddr 10.0.0.2")] + list(steps))


DENY_DB = "default deny of ingress of shop/db (policies selecting it: shop/db-from-web, shop/default-deny)"


def test_a_default_deny_names_the_pod_and_direction_it_refused():
    p = packet(step("pod-abc", "ingress of shop/db: policy shop/db-from-web", "jump policy-x"),
               step("pod-abc", DENY_DB, "reject"))
    assert policy.events(p, report._rule) == [
        {"verdict": "dropped", "direction": "ingress", "pod": "shop/db", "by": DENY_DB}]
    assert policy.verdicts(p, report._rule, "10.0.0.2", 5432) == [
        "  policy: dropped by default deny of ingress of shop/db (policies selecting it: shop/db-from-web, "
        "shop/default-deny; none allows 10.0.0.2 → :5432)"]


def test_an_allowed_packet_names_the_policy_rule_and_a_node_packet_its_pass():
    rule = "shop/db-from-web ingress rule 1: from pods app=web, port TCP/5432"
    p = packet(step("pod-abc", "ingress of shop/db: policy shop/db-from-web", "jump policy-x"),
               step("policy-x", rule, "continue"),
               step("pod-abc", "allowed by a policy above", "return"),
               step("pod-def", "ingress of shop/web: policy shop/web-in", "jump policy-y"),
               step("pod-def", "the node may always reach shop/web", "return"))
    events = policy.events(p, report._rule)
    assert events[0] == {"verdict": "allowed", "direction": "ingress", "pod": "shop/db", "by": rule,
                         "whose": "ingress of shop/db"}
    assert events[1] == {"verdict": "node", "direction": "ingress", "pod": "shop/web",
                         "by": "the node may always reach shop/web"}
    assert policy.verdicts(p, report._rule, "10.0.0.2", 5432)[0] == \
        f"  policy: ingress of shop/db: allowed by {rule}"


def test_an_egress_refusal_and_a_comment_cut_short():
    p = packet(step("pod-abc", "default deny of egress of shop/client (policies selecting it: shop/cl", "reject"))
    assert policy.events(p, report._rule)[0]["direction"] == "egress"
    assert policy.events(p, report._rule)[0]["pod"] == "shop/client"
    assert policy.events(packet(step("pod-abc", "", "reject")), report._rule) == [
        {"verdict": "dropped", "by": "the default deny"}]
    assert policy.events(packet(step("other", "whatever", "reject")), report._rule) == []
