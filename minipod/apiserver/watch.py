"""Watches (`?watch=1`): what `kubectl get -w`, `rollout status` and `wait`
follow. Changes of the stored objects come from the store's journal, in
order and none lost, from the resourceVersion the client names (410 Gone
when the journal no longer reaches back that far, as after etcd's
compaction). A live status is not stored (it is read from the runtime),
so the server's status recorder journals its changes (a pod that starts,
turns Ready, crashes; a Deployment's counts) with revisions of their own
while anyone lists or watches the kind: a watch from the revision of a
list then misses no status change since that list, in order with every
other change. Bookmarks carry the store's revision."""

import asyncio
import json
import os

from minipod.apiserver import rest, virtual
from minipod.apiserver.status import APIError, status
from minipod.objects import store

POLL = 0.02  # a read of the journal's open file at its end: next to free
STATUS_PERIOD = 0.5
BOOKMARK_PERIOD = 30.0
LIVE_STATUS = ("Pod", "Deployment", "Ingress", "Service")
RECORDER_GRACE = 300.0  # the recorder of a kind keeps going this long after its last list or watch


class StatusRecorder:
    """Journals the live status changes of the kinds that someone lists or
    watches (store.journal_status), against what the lists served: a list
    seeds what clients have seen, the recorder journals what differs."""

    def __init__(self):
        self.seen = {}      # plural -> {(namespace, name): status text}
        self.until = {}     # plural -> loop time until which it is recorded
        self.watching = {}  # plural -> open watches
        self.resources = {}

    def touch(self, resource, objs) -> None:
        """A list or watch of ``resource`` served ``objs`` (from any thread)."""
        if resource.kind not in LIVE_STATUS or resource.stored is None:
            return
        seen = self.seen.setdefault(resource.plural, {})
        for obj in objs:
            seen.setdefault(_key(obj), _comparable(obj.get("status")))
        self.resources[resource.plural] = resource
        self.until[resource.plural] = None  # refreshed by the loop (loop time is the loop's)

    def watch_started(self, resource, objs) -> None:
        self.touch(resource, objs)
        self.watching[resource.plural] = self.watching.get(resource.plural, 0) + 1

    def watch_ended(self, resource) -> None:
        if resource.plural in self.watching:
            self.watching[resource.plural] -= 1

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(STATUS_PERIOD)
            for plural in list(self.resources):
                if self.until.get(plural) is None or self.watching.get(plural):
                    self.until[plural] = loop.time() + RECORDER_GRACE
                if loop.time() > self.until[plural]:
                    del self.resources[plural], self.until[plural]
                    self.seen.pop(plural, None)
                    continue
                try:
                    await asyncio.to_thread(self._pass, self.resources[plural])
                except Exception as e:  # noqa: BLE001  (the recorder must outlive one bad pass)
                    print(f"minipod.apiserver: status pass of {plural}: {e}", flush=True)

    def _pass(self, resource) -> None:
        seen = self.seen.setdefault(resource.plural, {})
        objs = rest.list_objects(resource, None)
        now = {}
        for obj in objs:
            key, text = _key(obj), _comparable(obj.get("status"))
            now[key] = text
            # an object no list served (made since): its status as first seen is news too
            if seen.get(key) != text:
                if not store.journal_status(resource.stored, obj):
                    continue  # changed meanwhile: the next pass compares with the newer object
            seen[key] = text
        for key in [k for k in seen if k not in now]:
            del seen[key]


RECORDER = StatusRecorder()

_WAKE = set()  # an asyncio.Event per open watch, set by kick()


def kick() -> None:
    """A write through this server has landed (call on the loop): every
    watch reads the journal now instead of at its next poll, so a client
    of this server sees its own writes at once (other processes' writes,
    the agent's and the CLI's, are seen at the poll)."""
    for wake in _WAKE:
        wake.set()


async def _nap(wake: asyncio.Event) -> None:
    """Until the next poll, or a kick() before it."""
    handle = asyncio.get_running_loop().call_later(POLL, wake.set)
    try:
        await wake.wait()
    finally:
        handle.cancel()
        wake.clear()


def parse_version(text):
    """A watch's resourceVersion: None for "now, with the current objects
    first" (unset or 0), else a revision; 400 for anything else."""
    if text in (None, "", "0"):
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise APIError(400, f'Invalid value: "{text}": resourceVersion must be a number', "BadRequest")
    return int(text)


class Journal:
    """The store's journal read from a revision on: complete lines only, and
    across one rotation (journal.old, then journal); only the entries of
    ``plural``, each parsed only if it is one."""

    def __init__(self, plural: str):
        self.path = store.journal_path()
        self.file = None
        self.inode = None
        self.partial = b""
        # an entry of that kind holds this, at its top level; a line that does not is skipped unparsed
        self.mark = f'"plural":{json.dumps(plural)}'.encode()

    def _open(self, path):
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return None
        return f

    def oldest(self):
        """The oldest revision the journal still holds (None: it is empty)."""
        for path in (self.path.with_name("journal.old"), self.path):
            f = self._open(path)
            if f is None:
                continue
            with f:
                line = f.readline()
            try:
                return json.loads(line.partition(b"\t")[0])["rv"]
            except (ValueError, KeyError):
                continue
        return None

    def read_from(self, after: int) -> list:
        """Every change after revision ``after`` now in the journal; then
        tail() returns the later ones."""
        out = []
        old = self._open(self.path.with_name("journal.old"))
        if old is not None:
            with old:
                out += self._lines(old.read(), after)
            self.partial = b""
        self.file = self._open(self.path)
        if self.file is not None:
            self.inode = os.fstat(self.file.fileno()).st_ino
            out += self._lines(self.file.read(), after)
        return out

    def _lines(self, data: bytes, after: int = 0) -> list:
        """The entries of the complete lines of ``data`` after revision
        ``after``; a previous object stays text (see previous())."""
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()  # a line still being written
        out = []
        for line in lines:
            head, _tab, prev = line.partition(b"\t")
            if self.mark not in head or after and _revision(head) <= after:
                continue
            try:
                entry = json.loads(head)
            except ValueError:
                continue
            if prev:
                entry["prev_text"] = prev
            out.append(entry)
        return out

    def tail(self) -> list:
        out = []
        if self.file is not None:
            out += self._lines(self.file.read())
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            return out
        if inode != self.inode:  # rotated (or made): the rest of the old file is read above
            if self.file is not None:
                self.file.close()
            self.partial = b""
            self.file = self._open(self.path)
            self.inode = inode
            if self.file is not None:
                out += self._lines(self.file.read())
        return out

    def close(self):
        if self.file is not None:
            self.file.close()


def _revision(head: bytes) -> int:
    """An entry's revision without parsing it: its last '"rv":' is the top
    level's (only "status_only" and "type", which hold none, sort after it)."""
    at = head.rfind(b'"rv":')
    end = head.find(b",", at)
    try:
        return int(head[at + 5:end if end >= 0 else len(head) - 1])
    except ValueError:
        return 0


def previous(entry: dict):
    """The object as it was before the change of ``entry`` (None if new)."""
    if "prev_text" in entry:
        return json.loads(entry["prev_text"])
    return entry.get("prev")  # the journal's older form: within the entry


def _comparable(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _seen(resource, obj) -> str:
    """What later status passes compare: the status of a stored kind's
    object (the journal tells of the rest), the whole of a virtual one."""
    return _comparable(obj if resource.stored is None else obj.get("status"))


INITIAL_EVENTS_END = "k8s.io/initial-events-end"


async def events(resource, namespace, label_selector, field_selector, resource_version, bookmarks: bool,
                 deadline: float, initial_events: bool = False):
    """Yield watch events ({"type", "object"}) until ``deadline`` (loop time).
    ``initial_events`` (sendInitialEvents=true, a watch-list: client-go's
    WatchListClient, kubectl 1.35's `wait` and `rollout status`): the whole
    current state as ADDED, whatever the version asked for, then a BOOKMARK
    annotated k8s.io/initial-events-end that tells the client it has it all."""
    loop = asyncio.get_running_loop()
    start = parse_version(resource_version)
    keep_labels, keep_fields = rest.label_filter(label_selector), rest.field_filter(field_selector)

    def matches(obj):
        return (namespace is None or obj["metadata"].get("namespace") == namespace or not resource.namespaced) \
            and keep_labels(obj) and keep_fields(obj)

    journal = Journal(resource.plural)
    wake = asyncio.Event()
    _WAKE.add(wake)
    sent = {}  # (namespace, name) -> (comparable text, object) of what the client has
    started = False
    try:
        if resource.stored is None or start is None or initial_events:
            # the revision first: a change made while the list is read is in the backlog (and skipped there
            # if the list already had it), never lost
            revision = store.revision()
            objs = await asyncio.to_thread(rest.list_objects, resource, namespace, label_selector, field_selector)
            backlog = await asyncio.to_thread(journal.read_from, revision) if resource.stored else []
            RECORDER.watch_started(resource, objs)
            started = True
            for obj in objs:
                sent[_key(obj)] = (_seen(resource, obj), obj)
                yield {"type": "ADDED", "object": obj}
            if initial_events and bookmarks:
                yield {"type": "BOOKMARK", "object": {
                    "kind": resource.kind, "apiVersion": resource.group_version,
                    "metadata": {"resourceVersion": str(revision), "annotations": {INITIAL_EVENTS_END: "true"}}}}
        else:
            oldest = journal.oldest()
            current = store.revision()
            if start < current and (oldest is None or start + 1 < oldest):
                yield {"type": "ERROR", "object": status(
                    410, f"too old resource version: {start} ({oldest or current})", "Expired")}
                return
            # what the client has: the objects as they were at its revision are unknown, so those that exist
            # now and did not change since are taken as known
            backlog = await asyncio.to_thread(journal.read_from, start)
            changed = {}
            for e in backlog:
                if e["plural"] == resource.plural:
                    changed.setdefault(_key(e["object"]), e)
            for key, first in changed.items():
                if first["type"] != "ADDED":  # it existed at the client's version: as it was then
                    known = rest._with_kind(resource, previous(first) or first["object"])
                    if matches(known):
                        sent[key] = (None, {**known, "metadata": {**known["metadata"], "resourceVersion": str(start)}})
            listed = await asyncio.to_thread(rest.list_objects, resource, namespace, label_selector, field_selector)
            RECORDER.watch_started(resource, [])  # what the client saw was seeded by its own list
            started = True
            for obj in listed:
                if _key(obj) not in changed:
                    sent[_key(obj)] = (_seen(resource, obj), obj)
        last_status = loop.time()
        last_bookmark = loop.time()
        while loop.time() < deadline:
            for e in backlog:
                if e["plural"] != resource.plural:
                    continue
                async for ev in _journal_event(resource, e, matches, sent):
                    yield ev
            backlog = []
            now = loop.time()
            if now - last_status >= STATUS_PERIOD and resource.stored is None:  # the stored kinds': the recorder's
                last_status = now
                async for ev in _status_changes(resource, namespace, label_selector, field_selector, sent):
                    yield ev
            if bookmarks and now - last_bookmark >= BOOKMARK_PERIOD:
                last_bookmark = now
                yield {"type": "BOOKMARK", "object": {"kind": resource.kind, "apiVersion": resource.group_version,
                                                      "metadata": {"resourceVersion": str(store.revision())}}}
            await _nap(wake)
            backlog = journal.tail() if resource.stored is not None else []
    finally:
        _WAKE.discard(wake)
        journal.close()
        if started:
            RECORDER.watch_ended(resource)


def _version(obj) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def _key(obj):
    return obj["metadata"].get("namespace"), obj["metadata"]["name"]


async def _journal_event(resource, entry, matches, sent):
    """The event one journal entry makes for this watch: the object as the
    entry has it, with the live status it has now, ADDED/MODIFIED/DELETED
    as it enters, changes in or leaves the selection."""
    obj = rest._with_kind(resource, entry["object"])
    key = _key(obj)
    if key in sent and entry["rv"] <= _version(sent[key][1]):
        return  # the client has this version (or a newer one) already
    if entry["type"] == "DELETED":
        if key in sent:
            _text, last = sent.pop(key)
            # as last seen (its status too), at the revision of its deletion
            yield {"type": "DELETED", "object": {**last, "metadata": obj["metadata"]}}
        return
    shown = obj  # a status_only entry (the recorder's) carries the status it changed to
    if resource.kind in LIVE_STATUS and not entry.get("status_only"):
        if key in sent and "status" in sent[key][1]:
            # the status as last sent: a change of it is the status pass's to tell
            shown = {**obj, "status": sent[key][1]["status"]}
        else:
            try:
                now = await asyncio.to_thread(rest.read, resource, key[0], key[1])
                shown = {**obj, **({"status": now["status"]} if "status" in now else {})}
            except APIError:
                pass  # deleted meanwhile: its DELETED entry follows
    if matches(shown):
        kind = "MODIFIED" if key in sent else "ADDED"
        sent[key] = (_comparable(shown.get("status")), shown)
        yield {"type": kind, "object": shown}
    elif key in sent:
        del sent[key]
        yield {"type": "DELETED", "object": shown}


async def _status_changes(resource, namespace, label_selector, field_selector, sent):
    """For the kinds no journal tells of (Node, Event, EndpointSlice): ADDED,
    MODIFIED and DELETED from comparing the whole objects with what the
    client has (the stored kinds' status changes come from the recorder's
    journal entries)."""
    objs = await asyncio.to_thread(rest.list_objects, resource, namespace, label_selector, field_selector)
    now = {_key(o): o for o in objs}
    for key, obj in now.items():
        text = _comparable(obj)
        if key not in sent or sent[key][0] != text:
            kind = "MODIFIED" if key in sent else "ADDED"
            sent[key] = (text, obj)
            yield {"type": kind, "object": obj}
    for key in [k for k in sent if k not in now]:
        del sent[key]
        yield {"type": "DELETED", "object": {"kind": resource.kind, "apiVersion": resource.group_version,
                                             "metadata": {"name": key[1], "namespace": key[0]}}}


__all__ = ["events", "parse_version", "virtual"]
