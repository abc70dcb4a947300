"""The service proxy's nftables mode (kube-proxy's `--proxy-mode=nftables`):
one table of its own (`ip kube-proxy`), written whole on the agent's first
sync and then changed by deltas: a new service is its chains and a few map
elements, one `nft -f` transaction whatever the number of services.
"""

import shutil

from minipod.errors import MinipodError
from minipod.roles.proxy import host, nft_rules

_last = {"state": None}  # the State last written, None: unknown (write it all)
# (namespace, name) -> (service, endpoints, pod CIDR, its part): the objects
# come from list_objects(shared=True), the same dicts while their files are
# unchanged, so "is" tells an unchanged service without comparing it.
_parts = {}


def _part(svc, endpoints, pod_cidr):
    key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
    hit = _parts.get(key)
    if hit and hit[0] is svc and hit[1] is endpoints and hit[2] == pod_cidr:
        return hit[3]
    part = nft_rules.service_part(svc, endpoints, pod_cidr)
    _parts[key] = (svc, endpoints, pod_cidr, part)
    return part


def available() -> bool:
    return shutil.which("nft") is not None


def load(text: str) -> None:
    if not available():
        raise MinipodError("proxy mode nftables needs the nft tool (apt-get install nftables)")
    host.run(["nft", "-f", "-"], input=text)


def exists() -> bool:
    return available() and host.run(["nft", "list", "table", "ip", nft_rules.table()], check=False).returncode == 0


def sync(services: list, endpoints: dict, pod_cidr: str, service_cidr: str, force=False) -> str:
    """Make the table match these services; returns what it did ("" when
    nothing changed)."""
    wanted = nft_rules.render(services, endpoints, pod_cidr, service_cidr, part=_part)
    for key in set(_parts) - {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services}:
        del _parts[key]
    last = None if force else _last["state"]
    if last is None:
        text = nft_rules.full(wanted)
    else:
        text = nft_rules.delta(last, wanted)
        if not text:
            return ""
    _last["state"] = None  # until the transaction has succeeded
    load(text)
    _last["state"] = wanted
    lines = text.count("\n")
    return f"{len(wanted.chains)} chains, {sum(map(len, wanted.elements.values()))} map elements, " \
           f"{'all' if last is None else 'a delta of'} {lines} lines written"


def cleanup() -> None:
    _last["state"] = None
    _parts.clear()
    if exists():
        load(f"delete table ip {nft_rules.table()}\n")
