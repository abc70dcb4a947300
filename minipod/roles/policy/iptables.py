"""Loads the iptables view of the policy rules (iptables_rules) on the host:
the ipsets first (each swapped in whole), then the filter chains that
changed in one `iptables-restore --noflush` transaction, then the jumps
from FORWARD and INPUT, kept first in their chains (the CNI firewall
plugin and kube-proxy insert theirs at the top too, and the CNI's accepts
every packet of a pod: a policy checked after it would see nothing)."""

import shutil

from minipod.roles.policy import iptables_rules, ruleset
from minipod.roles.proxy import host, rules as proxyrules

_last = {"rules": None}  # the Ruleset last loaded; None: unknown (load all, remove whatever else is ours)


def existing_chains() -> list:
    mine = tuple(proxyrules.localize(p) for p in iptables_rules.PREFIXES)
    out = host.run(["iptables-save", "-t", "filter"], check=False).stdout
    return [line[1:].split()[0] for line in out.splitlines() if line.startswith(":") and line[1:].startswith(mine)]


def existing_sets() -> list:
    if shutil.which("ipset") is None:  # none can exist; needed only once a policy is enforced
        return []
    mine = tuple(proxyrules.localize(p) for p in iptables_rules.SET_PREFIXES)
    proc = host.run(["ipset", "list", "-n"], check=False)
    return [name for name in proc.stdout.split() if name.startswith(mine)]


def ensure_jumps() -> None:
    """Each jump is the first rule of its chain (moved there if it is not)."""
    for chain, spec in iptables_rules.jumps():
        listed = host.run(["iptables", "-w", "5", "-t", "filter", "-S", chain], check=False).stdout.splitlines()
        rules = [line for line in listed if line.startswith("-A ")]
        if rules and rules[0].split()[-1] == spec[-1] and sum(r.split()[-1] == spec[-1] for r in rules) == 1:
            continue
        while host.run(["iptables", "-w", "5", "-t", "filter", "-D", chain] + spec, check=False).returncode == 0:
            pass
        host.run(["iptables", "-w", "5", "-t", "filter", "-I", chain, "1"] + spec)


def sync(new: ruleset.Ruleset, force=False) -> str:
    """Load ``new``; returns what it wrote ("" when nothing changed)."""
    old = None if force else _last["rules"]
    change = ruleset.changes(old, new)
    if old is not None and ruleset.nothing(change):
        return ""
    stale_chains, stale_sets = change["stale_chains"], change["stale_sets"]
    if old is None:  # whatever else of ours is on the host goes
        stale_chains = [c for c in existing_chains() if c not in new.chains]
        stale_sets = [s for s in existing_sets() if s not in new.sets]
    _last["rules"] = None  # until all of it is loaded
    text = iptables_rules.ipset_input(new.sets, change["sets"], [])
    if text:
        host.run(["ipset", "restore"], input=text)
    lines = [line for chain in change["chains"] for line in new.chains[chain]]
    if change["chains"] or stale_chains:
        host.run(["iptables-restore", "--noflush", "-w", "5"],
                 input=proxyrules.restore_input("filter", change["chains"], lines, stale_chains))
    ensure_jumps()
    if stale_sets:  # no rule uses them now
        host.run(["ipset", "restore"], input=iptables_rules.ipset_input({}, [], stale_sets))
    _last["rules"] = new
    return f"{len(change['chains'])} chains ({len(lines)} rules) and {len(change['sets'])} ipsets written"


def cleanup() -> None:
    """Every jump, chain and ipset of the policy rules goes."""
    _last["rules"] = None
    for chain, spec in iptables_rules.jumps():
        while host.run(["iptables", "-w", "5", "-t", "filter", "-D", chain] + spec, check=False).returncode == 0:
            pass
    chains = existing_chains()
    if chains:
        host.run(["iptables-restore", "--noflush", "-w", "5"],
                 input=proxyrules.restore_input("filter", [], [], chains))
    sets = existing_sets()
    if sets:
        host.run(["ipset", "restore"], input=iptables_rules.ipset_input({}, [], sets))
