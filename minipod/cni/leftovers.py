"""Remove iptables leftovers that a plugin's DEL skipped.

The reference bridge plugin (containernetworking/plugins 1.1.x) tears down
its ipMasq chain only for the addresses it still finds on the container's
interface; after a reboot, a lost netns pin or an address removed by hand,
its DEL returns success and leaves `CNI-<hash>` in nat POSTROUTING forever. Every such rule
carries the comment `name: "<net>" id: "<container id>"`, so the runtime can
find exactly the rules of one attachment and remove them (CNI-RUNTIME.md:
"the runtime DELs every cached attachment ... and then verifies nothing
remains").
"""

import shlex
import subprocess

SHARED_CHAINS = ("CNI-HOSTPORT-", "CNI-FORWARD", "CNI-ADMIN")


def _iptables(*args):
    return subprocess.run(["iptables", *args], capture_output=True, text=True, check=False)


def find(container_id: str, network: str = None, table: str = "nat") -> list:
    """iptables-save lines ("-A CHAIN ...") whose comment names container_id
    (and ``network``: a pod's other attachments have rules of their own)."""
    dump = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True, check=False).stdout
    marker = f'id: \\"{container_id}\\"'
    if network is not None:
        marker = f'name: \\"{network}\\" ' + marker
    return [line for line in dump.splitlines() if line.startswith("-A ") and marker in line]


def remove(container_id: str, network: str = None) -> list:
    """Delete the container's leftover nat rules (on ``network`` only, if
    given) and the per-container chains they jump to; return what was removed."""
    removed, chains = [], set()
    for line in find(container_id, network):
        args = shlex.split(line)
        if "-j" in args:
            target = args[args.index("-j") + 1]
            if target.startswith("CNI-") and not target.startswith(SHARED_CHAINS):
                chains.add(target)
        if _iptables("-t", "nat", "-D", *args[1:]).returncode == 0:
            removed.append(line)
    for chain in sorted(chains):
        _iptables("-t", "nat", "-F", chain)
        if _iptables("-t", "nat", "-X", chain).returncode == 0:
            removed.append(f"chain {chain}")
    return removed
