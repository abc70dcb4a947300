"""The NetworkPolicy verdict of a traced packet, read from the rules it
matched (roles/policy's chains, either view): for each pod a policy
isolates on its way, the policy rule that let it through, the node's own
pass, or the default deny that dropped it."""

import re

from minipod.roles.policy import nft_rules
from minipod.roles.proxy import rules as proxyrules

ALLOWED = "allowed by a policy above"
NODE = "the node may always reach "


def _comment(line: str):
    m = re.match(r'"(.*)"', line)
    return m.group(1) if m else None


def _in_pod_chain(step) -> bool:
    if step.table == nft_rules.table():
        return step.chain.startswith("pod-")
    return step.chain.startswith(proxyrules.localize("KUBE-POD-FW-"))


def _in_policy_chain(step) -> bool:
    if step.table == nft_rules.table():
        return step.chain.startswith("policy-")
    return step.chain.startswith(proxyrules.localize("KUBE-NWPLCY-"))


def verdicts(packet, describe, src: str, dport) -> list:
    """Lines "policy: …" for ``packet`` (its rules told by ``describe``, the
    report's one-line form of a step); none when no policy isolates a pod
    on its way."""
    out, why, whose = [], None, None
    for step in packet.steps:
        if step.kind != "rule":
            continue
        text = _comment(describe(step)) or ""
        if _in_policy_chain(step) and step.verdict == "continue" and text:
            why = text  # a rule of a policy marked it allowed
        elif _in_pod_chain(step):
            if ": policy " in text:
                whose = text.split(": policy ")[0]  # "ingress of shop/db"
            if text == ALLOWED:
                out.append(f"  policy: {whose or 'allowed'}: allowed by {why}")
                why = whose = None
            elif text.startswith(NODE):
                out.append(f"  policy: {text} (from the node, always allowed)")
            elif step.verdict in ("drop", "reject"):
                deny = text or "the default deny"
                out.append(f"  policy: dropped by {deny.rstrip(')')}; none allows {src} → :{dport})"
                           if deny.endswith(")") else f"  policy: dropped by {deny}")
    return out
