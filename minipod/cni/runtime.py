"""ADD, DEL and CHECK of a plugin list, with a result cache (libcni's
AddNetworkList / DelNetworkList / CheckNetworkList).

Every attachment (network, container id, ifname) has one cache file, mode
0600, written *before* the first plugin runs (so a crash mid-ADD still
leaves what DEL needs), rewritten with the result so far after each plugin
but the last (a DEL after a crash mid-chain gets it as prevResult), and
completed with the final result after ADD. DEL
replays the cached config, CNI_ARGS and capability args, so portmap gets
the same portMappings and removes its DNAT rules; the cache is removed only
after every plugin's DEL succeeded.
"""

import contextlib
import os
from dataclasses import asdict, dataclass, field

from minipod import paths, state
from minipod.cni import config, invoke, leftovers
from minipod.errors import CNIError
from minipod.faults import fault_point

CACHE_KIND = "minipodCniCacheV1"
CODE_UNKNOWN_CONTAINER = 3


@dataclass
class Attachment:
    """One interface of one pod on one network, and everything DEL needs."""

    conflist: dict
    container_id: str
    ifname: str
    netns: str
    args: str
    capability_args: dict = field(default_factory=dict)
    pod: str = ""
    result: dict = None
    version: str = ""  # negotiated at ADD; DEL and CHECK speak the same
    # The namespace's identity (the inode of its nsfs file) when it was
    # attached: a DEL much later (gc, a deferred teardown) must never act
    # in another pod's namespace pinned at the same path meanwhile.
    netns_ino: int = 0
    # Why the last DEL failed (one line), kept for `gc --dry-run`'s reason
    # and for whoever looks next: a teardown that ran in the background
    # (run --rm, pod rm) has no caller left to tell.
    del_error: str = ""

    @property
    def network(self) -> str:
        return self.conflist["name"]

    @property
    def key(self) -> str:
        return f"{self.network}-{self.container_id}-{self.ifname}"


def cache_path(key: str):
    return paths.cni_cache_dir() / key


def _write_cache(att: Attachment) -> None:
    paths.cni_cache_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    state.write_json(cache_path(att.key), {"kind": CACHE_KIND, **asdict(att)}, mode=0o600, durable=True)


def load_cached(key: str):
    """The cached Attachment for ``key`` or None."""
    try:
        data = state.read_json(cache_path(key))
    except (FileNotFoundError, ValueError):
        return None
    data.pop("kind", None)
    return Attachment(**data)


def cached_attachments() -> list:
    try:
        keys = sorted(p.name for p in paths.cni_cache_dir().iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return []
    return [a for a in (load_cached(k) for k in keys) if a is not None]


def keys_of(container_id: str) -> list:
    """The cache keys of every attachment of ``container_id`` (by file name:
    no cache file is read)."""
    try:
        names = os.listdir(paths.cni_cache_dir())
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith(".") and f"-{container_id}-" in n)


def plugin_versions(plugin_type: str) -> list:
    """The spec versions a plugin binary supports (CNI_COMMAND=VERSION),
    cached per binary (path, size, mtime) so the hot path never asks twice."""
    path = invoke.find_plugin(plugin_type, paths.cni_path())
    st = path.stat()
    key = f"{path}:{st.st_size}:{st.st_mtime_ns}"
    cache_file = paths.cni_cache_dir().parent / "plugin-versions.json"
    try:
        cache = state.read_json(cache_file)
    except (FileNotFoundError, ValueError):
        cache = {}
    if key not in cache:
        cache[key] = invoke.plugin_versions(plugin_type, paths.cni_path())
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        state.write_json(cache_file, cache)
    return cache[key]


def negotiate(conflist: dict) -> str:
    """The version every plugin of the list and this runtime speak."""
    return config.choose_version(conflist, plugin_versions)


def _lock(att: Attachment):
    # Never two operations at once on one attachment.
    return state.locked(paths.run_root() / "locks" / f"cni-{att.container_id}-{att.ifname}.lock")


def _netns_ino(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return 0


def _run(att, plugin, command, version, prev):
    conf = config.build_plugin_config(att.conflist, plugin, version, att.capability_args, prev)
    netns = att.netns if att.netns and os.path.exists(att.netns) else ""
    if netns and att.netns_ino and _netns_ino(netns) != att.netns_ino:
        netns = ""  # the path names another namespace now: this one is gone (DEL copes without it)
    return invoke.exec_plugin(plugin["type"], command, conf, container_id=att.container_id,
                              netns=netns, ifname=att.ifname, args=att.args,
                              search_path=paths.cni_path())


def add(att: Attachment) -> dict:
    """ADD every plugin in order, chaining prevResult; on failure, DEL what
    was done and re-raise. Returns the final result."""
    version = att.version = negotiate(att.conflist)
    with _lock(att):
        att.result = None
        att.netns_ino = _netns_ino(att.netns) if att.netns else 0
        _write_cache(att)
        prev = None
        ran = 0  # plugins that were executed (and may have changed something)
        try:
            for plugin in att.conflist["plugins"]:
                ran += 1
                prev = _run(att, plugin, "ADD", version, prev)
                if ran < len(att.conflist["plugins"]):
                    # The result so far, for a DEL after a crash before the
                    # end: firewall and others remove their per-address rules
                    # only by the prevResult they get (no comment names the pod).
                    att.result = prev
                    _write_cache(att)
                    fault_point("cni-plugin-added")  # a crash mid-chain
        except BaseException as e:
            if getattr(e, "not_found", False):
                ran -= 1  # a missing binary did nothing to undo
            # The plugin that failed may refuse DEL exactly as it refused ADD
            # (a config it cannot parse): that error can never clear, so it
            # does not keep the cache alive. Any other DEL error does.
            refused = (ran - 1, e.args[0].replace(" ADD ", " DEL ")) if isinstance(e, CNIError) else None
            with contextlib.suppress(CNIError):
                _delete_locked(att, ran, refused)
            raise
        att.result = prev
        _write_cache(att)
        return prev


def _delete_locked(att: Attachment, ran=None, refused=None) -> None:
    """DEL the first ``ran`` plugins (all by default) in reverse order.
    ``refused`` = (index, message): that plugin's identical error is expected."""
    version = att.version or config.pick_version(att.conflist)
    prev = att.result if att.result and config.at_least(version, "0.4.0") else None
    errors = []
    plugins = att.conflist["plugins"][:ran] if ran is not None else att.conflist["plugins"]
    for index in reversed(range(len(plugins))):
        try:
            _run(att, plugins[index], "DEL", version, prev)
        except CNIError as e:
            if e.code == CODE_UNKNOWN_CONTAINER:  # "container unknown": nothing to undo
                continue
            if refused and refused == (index, e.args[0]):
                continue
            errors.append(e)
    if errors:
        _record_del_error(att, errors[0])
        raise errors[0]
    # Verify nothing remains: bridge skips its ipMasq teardown when it
    # cannot read the addresses from the netns (gone, or changed behind its
    # back); remove whatever still names this container (a few ms).
    leftovers.remove(att.container_id, att.network)  # this attachment's only: another's DEL may have failed
    with contextlib.suppress(FileNotFoundError):
        os.unlink(cache_path(att.key))


def _record_del_error(att: Attachment, error: CNIError) -> None:
    """The DEL's failure, written into the cache file it leaves (as it was:
    only the reason changes)."""
    cached = load_cached(att.key)
    if cached is not None:
        cached.del_error = " ".join(str(error).split())
        _write_cache(cached)


def delete(att: Attachment, netns: str = None) -> None:
    """DEL in reverse order with the cached result and the same capability
    args. Idempotent; works without the netns; keeps the cache on error.
    ``netns``: where the namespace is pinned now, if it moved since ADD."""
    with _lock(att):
        cached = load_cached(att.key) or att
        if netns is not None:
            cached.netns = netns
        _delete_locked(cached)


def check(att: Attachment) -> None:
    """CHECK with the cached result (spec >= 0.4.0, unless disableCheck)."""
    with _lock(att):
        cached = load_cached(att.key)
        if cached is None or cached.result is None:
            raise CNIError(f"network {att.network}: no cached ADD result to CHECK")
        version = cached.version or config.pick_version(cached.conflist)
        if cached.conflist.get("disableCheck") or not config.at_least(version, "0.4.0"):
            return
        for plugin in cached.conflist["plugins"]:
            _run(cached, plugin, "CHECK", version, cached.result)
