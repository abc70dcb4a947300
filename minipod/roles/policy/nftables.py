"""Loads the nftables view of the policy rules (nft_rules) on the host: the
table whole on the first sync, then only the chains, sets and map elements
that changed, each time one `nft -f` transaction."""

from minipod.roles.policy import nft_rules, ruleset
from minipod.roles.proxy import host, nftables as proxynft

_last = {"rules": None}  # the Ruleset last loaded; None: unknown (the table is written whole)


def exists() -> bool:
    return proxynft.available() and \
        host.run(["nft", "list", "table", "ip", nft_rules.table()], check=False).returncode == 0


def sync(new: ruleset.Ruleset, force=False) -> str:
    """Load ``new``; returns what it wrote ("" when nothing changed)."""
    old = None if force else _last["rules"]
    change = ruleset.changes(old, new)
    if old is not None and ruleset.nothing(change):
        return ""
    text = nft_rules.transaction(new, change, first=old is None)
    _last["rules"] = None  # until the transaction has succeeded
    proxynft.load(text)
    _last["rules"] = new
    return f"{len(change['chains'])} chains and {len(change['sets'])} sets written " \
           f"({'the table whole' if old is None else 'a delta'}, {text.count(chr(10))} lines)"


def cleanup() -> None:
    _last["rules"] = None
    if exists():
        proxynft.load(f"delete table ip {nft_rules.table()}\n")
