"""The object store: every Kubernetes object minipod keeps, as one JSON
file each under <lib root>/objects/<plural>/<namespace>/<name>.json, with
a uid, a creationTimestamp and a resourceVersion from one counter.

Writes are atomic under one lock: each object file is rewritten through a
spare inode swapped in by one rename (state.write_json's ``recycle``), so
it is read with state.read_recycled_json. The interface is
deliberately small (get, list, put, delete) so that a store on etcd can
replace this one without touching its callers.

Every change is also appended to a journal (one line: a JSON entry with the
revision, ADDED/MODIFIED/DELETED and the object as stored; then, after a
tab, the object as it was, as JSON), which is what the API's
watches replay and follow, as etcd's watch is for kube-apiserver. The
journal keeps the last JOURNAL_BYTES or so (the previous file is kept
beside it once, then dropped): a watch from an older revision is told
that its revision is gone, as etcd's compaction does.
"""

import datetime
import functools
import json
import os
import re
import uuid

from minipod import paths, state
from minipod.errors import AlreadyExists, Conflict, NotFound

CLUSTER = "_cluster"  # the directory of objects that live in no namespace
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")
DELETION_FIELDS = ("deletionTimestamp", "deletionGracePeriodSeconds")  # set by mark_deleted only, then kept
# The kinds whose API strategy counts spec changes in metadata.generation (ConfigMaps, Secrets, Services,
# Endpoints, Namespaces have none; Pods only since 1.33's PodObservedGenerationTracking, not counted here).
GENERATION_KINDS = ("Deployment", "ReplicaSet", "Ingress", "NetworkPolicy", "GatewayClass", "Gateway", "HTTPRoute",
                    "ReferenceGrant")


def root():
    return _root_of(paths.lib_root())


@functools.lru_cache(maxsize=8)
def _root_of(lib):
    return lib / "objects"  # one Path per root: the API server asks for it ten times per write


def lock():
    root().mkdir(parents=True, exist_ok=True)
    return state.locked(root() / "lock")


_SAFE = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")


def _check(kind, what, value) -> None:
    if not isinstance(value, str) or not _SAFE.fullmatch(value) or ".." in value:
        shown = value if isinstance(value, str) and len(value) <= 80 else f"{str(value)[:80]}..."
        raise NotFound(f"{kind.plural}: {what} {shown!r} is not valid, so no object has it")


def _path(kind, namespace, name):
    """The file of one object; a name or namespace that no object can have
    (and that could lead out of the store, such as "..") is refused."""
    _check(kind, "name", name)
    if kind.namespaced:
        _check(kind, "namespace", namespace)
    return root() / kind.plural / (namespace if kind.namespaced else CLUSTER) / f"{name}.json"


def get(kind, namespace, name):
    try:
        return state.read_recycled_json(_path(kind, namespace, name))
    except FileNotFoundError:
        return None


_shared = {}  # kind plural -> {path: ((inode, mtime, size), object)}: list_objects(shared=True)
settled = state.settled  # a file's stamp is trusted only once it has settled (see state.SETTLED_NS)


def list_objects(kind, namespace=None, shared=False) -> list:
    """Objects of ``kind`` (in ``namespace``, or in all when None).

    ``shared``: for a reader that never changes what it gets (the agent's
    proxy, DNS and endpoint passes run every few milliseconds over every
    Service): objects whose file is unchanged since this process last read
    it come from memory, the same dicts each time. A file's (inode, mtime,
    size) tells a change once the file has settled (see state.SETTLED_NS).
    Callers must not change what they get."""
    if namespace and kind.namespaced:
        _check(kind, "namespace", namespace)
    top = root() / kind.plural
    if not top.is_dir():
        return []
    dirs = [top / (namespace if kind.namespaced else CLUSTER)] if namespace and kind.namespaced \
        else [d for d in top.iterdir() if d.is_dir()]
    cache = _shared.setdefault(kind.plural, {}) if shared else None
    out = []
    for d in dirs:
        try:
            entries = [e for e in os.scandir(d) if e.name.endswith(".json")]
        except FileNotFoundError:
            continue
        for e in entries:
            try:
                if cache is None:
                    out.append(state.read_recycled_json(e.path))
                    continue
                st = e.stat()
                stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
                hit = cache.get(e.path)
                if hit is None or hit[0] != stamp:
                    hit = (stamp, state.read_recycled_json(e.path))
                    if settled(st):
                        cache[e.path] = hit
                    else:
                        cache.pop(e.path, None)
                out.append(hit[1])
            except FileNotFoundError:
                pass  # deleted meanwhile
    if cache is not None and len(cache) > 2 * len(out) + 64:  # forget deleted objects now and then
        live = {id(o) for o in out}
        for path in [p for p, (_s, o) in cache.items() if id(o) not in live]:
            del cache[path]
    return sorted(out, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def any_objects(kind) -> bool:
    """Whether at least one object of ``kind`` exists (without reading any)."""
    top = root() / kind.plural
    if not top.is_dir():
        return False
    for d in top.iterdir():
        if d.is_dir() and any(e.name.endswith(".json") for e in os.scandir(d)):
            return True
    return False


def desired(obj: dict) -> dict:
    """What a user wrote, without what the server adds (for "unchanged")."""
    meta = {k: v for k, v in obj["metadata"].items() if k not in SERVER_FIELDS}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta}


def _next_revision() -> str:
    """The next revision, counted in place under the store's lock (a
    rename per write costs as much as the object's own; the agent wakes on
    the counter's IN_MODIFY). A counter that cannot be read (a torn write,
    in theory: it is one small write) is recovered from the journal, so a
    revision never goes back."""
    fd = os.open(root() / "revision", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            value = int(os.pread(fd, 64, 0).decode().strip() or 0) + 1
        except ValueError:
            value = _journal_revision() + 1
        os.pwrite(fd, f"{value:020d}\n".encode(), 0)
    finally:
        os.close(fd)
    return str(value)


def _journal_revision() -> int:
    """The revision of the journal's last complete line (0 if none)."""
    try:
        with open(journal_path(), "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - (4 << 20)))
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line.partition(b"\t")[0])["rv"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


JOURNAL_BYTES = 8 << 20


def journal_path():
    return root() / "journal"


def _journal(event: str, kind, obj: dict, prev=None, rv=None) -> None:
    """Append one change (under the store's lock), with the object as it
    was before a modification (etcd's prevKV: what a watch from an older
    revision needs to know whether its client had the object); rotate a
    full journal. ``rv``: the entry's revision when it is not the object's
    own (a status change, see journal_status)."""
    path = journal_path()
    entry = {"rv": rv or int(obj["metadata"]["resourceVersion"]), "type": event, "plural": kind.plural,
             "object": obj}
    if rv:
        entry["status_only"] = True
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    if prev is not None:
        # apart, after a tab (compact JSON never holds a raw one): a watch that follows the journal
        # needs only the entry, and parses the previous object only to resume from an old revision
        line += "\t" + json.dumps(prev, sort_keys=True, separators=(",", ":"))
    line += "\n"
    try:
        if path.stat().st_size > JOURNAL_BYTES:
            os.replace(path, path.with_name("journal.old"))
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def revision() -> int:
    """The store's current revision (the last change's resourceVersion)."""
    try:
        return int((root() / "revision").read_text().strip() or 0)
    except FileNotFoundError:
        return 0
    except ValueError:
        return _journal_revision()


CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/",)  # written by a controller, not by the object's user


def _keep_controller_annotations(obj: dict, old) -> dict:
    """A write that does not name a controller's annotations (`minipod apply`
    of the user's file) keeps them, as `kubectl apply` leaves alone what it
    did not apply."""
    kept = {k: v for k, v in ((old or {}).get("metadata", {}).get("annotations") or {}).items()
            if k.startswith(CONTROLLER_ANNOTATIONS) and k not in (obj["metadata"].get("annotations") or {})}
    if not kept:
        return obj
    return {**obj, "metadata": {**obj["metadata"], "annotations": {**(obj["metadata"].get("annotations") or {}),
                                                                   **kept}}}


def put(kind, obj: dict, must_exist=None, expect_version=None, dry_run=False):
    """Create or update ``obj`` (validated). Returns (stored object,
    "created" | "configured" | "unchanged").

    ``must_exist``: True for an update (NotFound if there is none), False for
    a create (AlreadyExists if there is one), None for either (apply).
    ``expect_version``: the resourceVersion the stored object must still
    have (Conflict otherwise): the API's optimistic concurrency.
    ``dry_run``: every check, and the object as it would be stored (its
    uid, creation time and generation), but nothing written and no new
    revision (the API's dryRun=All)."""
    meta = obj["metadata"]
    with lock():
        old = get(kind, meta.get("namespace"), meta["name"])
        if must_exist is False and old is not None:
            raise AlreadyExists(f'{kind.plural} "{meta["name"]}" already exists')
        if must_exist and old is None:
            raise NotFound(f'{kind.plural} "{meta["name"]}" not found')
        if expect_version and (old is None or old["metadata"]["resourceVersion"] != expect_version):
            raise Conflict(f'Operation cannot be fulfilled on {kind.plural} "{meta["name"]}": the object has '
                           "been modified; please apply your changes to the latest version and try again")
        obj = _keep_controller_annotations(obj, old)
        if old is not None and desired(old) == desired(obj) and \
                (not obj.get("status") or obj["status"] == old.get("status")):
            return old, "unchanged"
        stored = desired(obj)
        for key in DELETION_FIELDS:  # a deletion under way cannot be undone by a write, nor begun by one
            stored["metadata"].pop(key, None)
            if old is not None and key in old["metadata"]:
                stored["metadata"][key] = old["metadata"][key]
        if obj.get("status"):  # set by minipod itself (a LoadBalancer's IP); users' status is dropped by check
            stored["status"] = obj["status"]
        stored["metadata"].update(
            uid=old["metadata"]["uid"] if old else str(uuid.uuid4()),
            creationTimestamp=old["metadata"]["creationTimestamp"] if old else
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            resourceVersion=(old["metadata"]["resourceVersion"] if old else "") if dry_run else _next_revision())
        if kind.kind in GENERATION_KINDS:
            # as the API's: only a change of spec is a new generation (not a status, an Ingress's
            # address; nor metadata, a Deployment's revision annotation)
            stored["metadata"]["generation"] = 1 if old is None else old["metadata"].get("generation", 1) + \
                (desired(old).get("spec") != desired(obj).get("spec"))
        if dry_run:
            return stored, "configured" if old else "created"
        path = _path(kind, meta.get("namespace"), meta["name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        state.write_json(path, stored, mode=0o600, recycle=True)
        _journal("MODIFIED" if old else "ADDED", kind, stored, old)
        return stored, "configured" if old else "created"


def journal_status(kind, obj: dict) -> bool:
    """Record that the live status of ``obj`` (as stored, with its status
    computed) changed: a journal entry of its own revision, so that a
    watch from any revision replays status changes in order with the
    rest. Nothing if the object changed or went meanwhile (the next
    status pass sees the newer one). The object file is not rewritten:
    status is live, not stored."""
    meta = obj["metadata"]
    with lock():
        current = get(kind, meta.get("namespace"), meta["name"])
        if current is None or current["metadata"].get("resourceVersion") != meta.get("resourceVersion"):
            return False
        _journal("MODIFIED", kind, obj, rv=int(_next_revision()))
        return True


def mark_deleted(kind, namespace, name, expect_uid=None, grace=None, status=None):
    """The first half of a graceful deletion, as the API server's: the
    object gets deletionTimestamp (and deletionGracePeriodSeconds, and
    ``status`` if given) and stays until whoever finishes its deletion
    (the node agent, for a Pod) deletes it. Returns it as marked; None if
    there is none (or it is another one than ``expect_uid``). Marking
    again changes nothing."""
    with lock():
        old = get(kind, namespace, name)
        if old is None or (expect_uid and old["metadata"].get("uid") != expect_uid):
            return None
        if old["metadata"].get("deletionTimestamp"):
            return old
        marked = json.loads(json.dumps(old))
        marked["metadata"]["deletionTimestamp"] = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        if grace is not None:
            marked["metadata"]["deletionGracePeriodSeconds"] = int(grace)
        if status is not None:
            marked["status"] = status
        marked["metadata"]["resourceVersion"] = _next_revision()
        state.write_json(_path(kind, namespace, name), marked, mode=0o600, recycle=True)
        _journal("MODIFIED", kind, marked, old)
        return marked


def delete(kind, namespace, name, expect_uid=None):
    """Delete one object; returns it as it was (with the revision of its
    deletion), or None if there was none. ``expect_uid``: delete only that
    very object (Conflict if the name now holds another)."""
    with lock():
        path = _path(kind, namespace, name)
        old = get(kind, namespace, name)
        if old is None:
            return None
        if expect_uid and old["metadata"].get("uid") != expect_uid:
            raise Conflict(f'Precondition failed for {kind.plural} "{name}": UID in precondition: '
                           f'{expect_uid}, UID in object meta: {old["metadata"].get("uid")}')
        try:
            os.unlink(path)
        except FileNotFoundError:
            return None
        state.spare_of(path).unlink(missing_ok=True)
        # watchers (the agent) see every change on the counter
        old["metadata"]["resourceVersion"] = _next_revision()
        _journal("DELETED", kind, old)
        return old
