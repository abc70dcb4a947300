"""The policy rules in the iptables view, in kube-router's shape: the
filter chains and ipsets a node running kube-router's policy controller
shows, built from a resolve.Plan. Pure (unit-tested line by line).

    FORWARD ─► KUBE-ROUTER-FORWARD      pod ↔ pod (bridged: br_netfilter),
    INPUT   ─► KUBE-ROUTER-INPUT        pod → this node (egress only)
        -s <pod> -j KUBE-POD-FW-…       the pod's egress, if a policy isolates it
        -d <pod> -g KUBE-POD-FW-…       the pod's ingress, if a policy isolates it
                                        (goto: nothing below concerns the packet)
    KUBE-POD-FW-…   one pod, one direction: every policy selecting it, then
                    "allowed by a policy above" or the default deny (REJECT)
    KUBE-NWPLCY-…   one policy, one direction: a rule per peer set × port,
                    each marking the packet allowed (0x10000)
    KUBE-SRC-… / KUBE-DST-…  ipsets: a rule's peer pods (a member's comment
                    names the pod), an ipBlock (its except as nomatch
                    members), the pods where a named port means a number

Every rule has a comment naming the pod or `namespace/policy` and which of
its rules; iptables counts packets per rule (`iptables -L -v`).
"""

from minipod.roles.policy.resolve import Plan, Policy, Port, Rule
from minipod.roles.policy import ruleset
from minipod.roles.policy.ruleset import ALLOWED_MARK, AddressSet, Ruleset, digest
from minipod.roles.proxy import rules as proxyrules

MARK = f"{ALLOWED_MARK:#x}/{ALLOWED_MARK:#x}"
COMMENT_MAX = 255  # bytes iptables keeps of a comment
REJECT = "-j REJECT --reject-with icmp-port-unreachable"
FORWARD, INPUT = "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-INPUT"
JUMPS = [("FORWARD", ["-m", "comment", "--comment", "kube-router netpol: pod traffic", "-j", FORWARD]),
         ("INPUT", ["-m", "comment", "--comment", "kube-router netpol: pod to this node", "-j", INPUT])]
PREFIXES = proxyrules.POLICY_CHAIN_PREFIXES  # the chains that are ours (kube-proxy's are KUBE- too)
SET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-")
ESTABLISHED = ('-m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment '
               '"replies and established connections: decided at their first packet" -j RETURN')


def jumps() -> list:
    return [(chain, [proxyrules.localize(a) for a in spec]) for chain, spec in JUMPS]


def _c(text: str) -> str:
    return f'-m comment --comment "{ruleset.fit(text, COMMENT_MAX)}"'


def pod_chain(pod, direction: str) -> str:
    return proxyrules.localize("KUBE-POD-FW-" + digest(f"{pod.key}/{direction}"))


def policy_chain(pol: Policy) -> str:
    return proxyrules.localize("KUBE-NWPLCY-" + digest(f"{pol.key}/{pol.direction}"))


def _set_name(kind: str, pol: Policy, what: str) -> str:
    """KUBE-SRC-<16> (peers a packet comes from) or KUBE-DST-<16>: at most
    25 characters, within ipset's 31."""
    return proxyrules.localize(f"KUBE-{kind}-" + digest(f"{pol.key}/{pol.direction}/{what}"))


def _block_members(block) -> tuple:
    """An ipBlock as hash:net members: ipset takes no /0, so 0.0.0.0/0 is
    its two halves (as kube-router writes it); except entries are nomatch."""
    cidrs = ["0.0.0.0/1", "128.0.0.0/1"] if block.cidr.endswith("/0") else [block.cidr]
    return tuple((c, f"ipBlock {block.cidr}", False) for c in cidrs) + \
        tuple((c, f"except of {block.cidr}", True) for c in block.excepts)


def _port_match(port: Port) -> str:
    proto = port.protocol.lower()
    if port.first is None:
        return f"-p {proto}"
    dports = str(port.first) if port.last == port.first else f"{port.first}:{port.last}"
    return f"-p {proto} -m {proto} --dport {dports}"


def _rule_lines(pol: Policy, rule: Rule, chain: str, sets: dict) -> list:
    """One line per (peer set, port) of the rule, each marking the packet
    allowed; the peer is the source for ingress, the destination for egress."""
    side, kind = ("src", "SRC") if pol.direction == "ingress" else ("dst", "DST")
    peers = [("", "anywhere")] if rule.anyone else []
    if rule.selectors:  # its set, even while empty: a pod that comes changes the set only
        name = _set_name(kind, pol, f"{rule.index}/pods")
        sets[name] = ruleset.peer_pods_set(pol, rule)
        peers.append((f"-m set --match-set {name} {side} ", rule.selectors_text))
    for j, block in enumerate(rule.blocks):
        name = _set_name(kind, pol, f"{rule.index}/block{j}")
        sets[name] = AddressSet(True, f"{pol.key} {pol.direction} rule {rule.index + 1}: an ipBlock",
                                _block_members(block))
        peers.append((f"-m set --match-set {name} {side} ", ruleset.block_text(block)))
    ports = [(None, "")] if rule.every_port else [(p, _port_match(p) + " ") for p in rule.ports]
    lines = []
    for port, match in ports:
        only = ""
        if port is not None and port.only is not None:
            name = _set_name("DST", pol, f"{rule.index}/{port.name}/{port.protocol}/{port.first}")
            sets[name] = ruleset.named_port_set(port)
            only = f"-m set --match-set {name} dst "
        # the port first: a cheap compare that spares most packets the set lookup
        lines += [f"-A {chain} {_c(ruleset.rule_comment(pol, rule, text, port))} {match}{peer}{only}"
                  f"-j MARK --set-xmark {MARK}" for peer, text in peers]
    return lines


def _policy_lines(pol: Policy, sets: dict) -> list:
    chain = policy_chain(pol)
    lines = [line for rule in pol.rules for line in _rule_lines(pol, rule, chain, sets)]
    return lines or [f"-A {chain} {_c(ruleset.allows_nothing(pol))} -j RETURN"]


def _pod_lines(pod, direction: str, pols: list) -> list:
    chain = pod_chain(pod, direction)
    forget = _c("a verdict of its own: forget an earlier chain")
    lines = [f"-A {chain} {forget} -j MARK --set-xmark 0x0/{ALLOWED_MARK:#x}"]
    if direction == "ingress":  # as on a cluster: probes and the node's own traffic always pass
        lines.append(f'-A {chain} -m addrtype --src-type LOCAL {_c(f"the node may always reach {pod.key}")} -j RETURN')
    lines += [f'-A {chain} {_c(f"{direction} of {pod.key}: policy {pol.key}")} -j {policy_chain(pol)}'
              for pol in pols]
    lines.append(f'-A {chain} -m mark --mark {MARK} {_c("allowed by a policy above")} -j RETURN')
    names = ", ".join(p.key for p in pols)
    lines.append(f'-A {chain} {_c(f"default deny of {direction} of {pod.key} (policies selecting it: {names})")} '
                 f'{REJECT}')
    return lines


def render(plan: Plan) -> Ruleset:
    """The chains and ipsets for ``plan``."""
    out = Ruleset()
    forward, to_node = proxyrules.localize(FORWARD), proxyrules.localize(INPUT)
    out.chains[forward] = [f"-A {forward} {ESTABLISHED}"]
    out.chains[to_node] = [f"-A {to_node} {ESTABLISHED}"]
    # A source's egress first, then the destination's ingress. The last
    # chain a packet can need is entered by goto (-g): when it returns, the
    # packet goes back to FORWARD (INPUT) at once instead of walking every
    # other isolated pod's rule below, none of which can match it.
    for direction, flag in (("egress", "-s"), ("ingress", "-d")):
        for pod, pols in plan.pods(direction):
            chain = pod_chain(pod, direction)
            match = f'{flag} {pod.ip}/32 {_c(f"{direction} of pod {pod.key}")}'
            out.chains[forward].append(f"-A {forward} {match} -{'g' if direction == 'ingress' else 'j'} {chain}")
            if direction == "egress":
                out.chains[to_node].append(f"-A {to_node} {match} -g {chain}")
            out.chains[chain] = _pod_lines(pod, direction, pols)
    for pol in plan.policies:
        out.chains[policy_chain(pol)] = _policy_lines(pol, out.sets)
    return out


def ipset_input(sets: dict, names: list, stale: list) -> str:
    """One `ipset restore` input: each changed set filled under a temporary
    name and swapped in (a set is never seen half-filled), stale ones
    destroyed (after the rules that used them are gone)."""
    lines = []
    for name in names:
        s = sets[name]
        kind = "hash:net" if s.nets else "hash:ip"
        tmp = name + "-T"
        lines += [f"create {tmp} {kind} family inet comment -exist", f"flush {tmp}"]
        lines += [f'add {tmp} {text} comment "{note}"' + (" nomatch" if excluded else "")
                  for text, note, excluded in s.members]
        lines += [f"create {name} {kind} family inet comment -exist", f"swap {tmp} {name}", f"destroy {tmp}"]
    lines += [f"destroy {name}" for name in stale]
    return "\n".join(lines) + "\n" if lines else ""
