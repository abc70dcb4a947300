"""The service proxy's iptables mode (kube-proxy's default view): keeps the
host's nat and filter rules in step with Services and Endpoints, each change
one atomic `iptables-restore --noflush` transaction that touches only its
own chains (KUBE-*: the CNI plugins' chains and the user's rules stay as
they are). Writes only on a change, and then only the chains that changed
(kube-proxy's partial syncs, KEP-3453): one more service rewrites
KUBE-SERVICES and its own chains, not every service's.
"""

from minipod.roles.proxy import host, rules

_last = {"chains": None}  # table -> {chain: [its rules]} as last written


def existing_chains(table: str) -> list:
    out = host.run(["iptables-save", "-t", table], check=False).stdout
    mine, theirs = rules.localize("KUBE-"), tuple(rules.localize(p) for p in rules.POLICY_CHAIN_PREFIXES)
    return [line[1:].split()[0] for line in out.splitlines()
            if line.startswith(":" + mine) and not line[1:].startswith(theirs)]


def _ensure_jumps() -> None:
    for table, items in rules.jumps().items():
        for chain, spec in reversed(items):  # inserted at the top, so the first ends up first
            if host.run(["iptables", "-w", "5", "-t", table, "-C", chain] + spec, check=False).returncode != 0:
                host.run(["iptables", "-w", "5", "-t", table, "-I", chain, "1"] + spec)


def _remove_jumps() -> None:
    for table, items in rules.jumps().items():
        for chain, spec in items:
            while host.run(["iptables", "-w", "5", "-t", table, "-D", chain] + spec, check=False).returncode == 0:
                pass


def sync(services: list, endpoints: dict, pod_cidr: str, force=False) -> str:
    """Make the rules match these services; returns what it did ("" when
    nothing changed)."""
    wanted = rules.render(services, endpoints, pod_cidr)
    by_chain = {t: _by_chain(wanted["chains"][t], wanted[t]) for t in ("nat", "filter")}
    last = None if force else _last["chains"]
    if by_chain == last:
        return ""
    data, written = "", 0
    for table, chains in by_chain.items():
        if last is None:  # first sync of this process: everything, and whatever else is ours goes
            changed = list(chains)
            stale = [c for c in existing_chains(table) if c not in chains]
        else:
            changed = [c for c, lines in chains.items() if last[table].get(c) != lines]
            stale = [c for c in last[table] if c not in chains]
        lines = [line for c in changed for line in chains[c]]
        written += len(lines)
        if changed or stale:
            data += rules.restore_input(table, changed, lines, stale)
    _last["chains"] = None  # until the restore has succeeded
    host.run(["iptables-restore", "--noflush", "-w", "5"], input=data)
    _ensure_jumps()
    _last["chains"] = by_chain
    return (f"{len(wanted['nat'])} nat and {len(wanted['filter'])} filter rules, "
            f"{written} written")


def _by_chain(chains: list, lines: list) -> dict:
    """{chain: its rule lines in order}, every declared chain present."""
    out = {c: [] for c in chains}
    for line in lines:
        out.setdefault(line.split(" ", 2)[1], []).append(line)
    return out


def cleanup() -> None:
    """Every chain and jump of this mode goes."""
    _last["chains"] = None
    _remove_jumps()
    data = ""
    for table in ("nat", "filter"):
        chains = existing_chains(table)
        if chains:
            data += rules.restore_input(table, [], [], chains)
    if data:
        host.run(["iptables-restore", "--noflush", "-w", "5"], input=data)
