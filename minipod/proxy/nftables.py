"""The service proxy's nftables mode (kube-proxy's `--proxy-mode=nftables`):
one table of its own (`ip kube-proxy`), written whole on the agent's first
sync and then changed by deltas: a new service is its chains and a few map
elements, one `nft -f` transaction whatever the number of services.
"""

import shutil

from minipod.errors import MinipodError
from minipod.proxy import host, nft_rules

_last = {"state": None}  # the State last written, None: unknown (write it all)


def available() -> bool:
    return shutil.which("nft") is not None


def _nft(text: str) -> None:
    if not available():
        raise MinipodError("proxy mode nftables needs the nft tool (apt-get install nftables)")
    host.run(["nft", "-f", "-"], input=text)


def exists() -> bool:
    return available() and host.run(["nft", "list", "table", "ip", nft_rules.table()], check=False).returncode == 0


def sync(services: list, endpoints: dict, pod_cidr: str, service_cidr: str, force=False) -> str:
    """Make the table match these services; returns what it did ("" when
    nothing changed)."""
    wanted = nft_rules.render(services, endpoints, pod_cidr, service_cidr)
    last = None if force else _last["state"]
    if last is None:
        text = nft_rules.full(wanted)
    else:
        text = nft_rules.delta(last, wanted)
        if not text:
            return ""
    _last["state"] = None  # until the transaction has succeeded
    _nft(text)
    _last["state"] = wanted
    lines = text.count("\n")
    return f"{len(wanted.chains)} chains, {sum(map(len, wanted.elements.values()))} map elements, " \
           f"{'all' if last is None else 'a delta of'} {lines} lines written"


def cleanup() -> None:
    _last["state"] = None
    if exists():
        _nft(f"delete table ip {nft_rules.table()}\n")
