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


_WHO = re.compile(r"(ingress|egress) of (\S+?)(?=[:\s]|$)")


def _who(text: str) -> dict:
    """The isolated pod a pod chain's comment names, and which of its
    directions: {"direction", "pod"} (empty when the comment was cut short)."""
    if text.startswith(NODE):
        return {"direction": "ingress", "pod": text[len(NODE):].split()[0]}
    m = _WHO.search(text or "")
    return {"direction": m.group(1), "pod": m.group(2)} if m else {}


def events(packet, describe) -> list:
    """What the policy rules decided for ``packet`` (its rules told by
    ``describe``, the report's one-line form of a step), in order: one dict
    per isolated pod on its way, {"verdict": "allowed" | "node" | "dropped",
    "direction", "pod" (namespace/name), "by": the deciding rule's words}."""
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
                out.append({"verdict": "allowed", **_who(whose or ""), "by": why, "whose": whose})
                why = whose = None
            elif text.startswith(NODE):
                out.append({"verdict": "node", **_who(text), "by": text})
            elif step.verdict in ("drop", "reject"):
                out.append({"verdict": "dropped", **_who(text or whose or ""), "by": text or "the default deny"})
    return out


def verdicts(packet, describe, src: str, dport) -> list:
    """Lines "policy: …" for ``packet``; none when no policy isolates a pod
    on its way."""
    out = []
    for e in events(packet, describe):
        if e["verdict"] == "allowed":
            out.append(f"  policy: {e['whose'] or 'allowed'}: allowed by {e['by']}")
        elif e["verdict"] == "node":
            out.append(f"  policy: {e['by']} (from the node, always allowed)")
        else:
            deny = e["by"]
            out.append(f"  policy: dropped by {deny.rstrip(')')}; none allows {src} → :{dport})"
                       if deny.endswith(")") else f"  policy: dropped by {deny}")
    return out
