"""The Event store: repeats aggregate, an hour's TTL, a cap (objects/events.py)."""

import os
import time

from minipod.objects import events

POD = {"kind": "Pod", "namespace": "demo", "name": "web", "uid": "u-1", "apiVersion": "v1"}


def test_repeats_count_ttl_and_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_LIB_ROOT", str(tmp_path))
    first = events.record(POD, "BackOff", "Back-off restarting failed container", "Warning")
    again = events.record(POD, "BackOff", "Back-off restarting failed container", "Warning")
    assert again["metadata"]["name"] == first["metadata"]["name"] and again["count"] == 2
    assert again["firstTimestamp"] == first["firstTimestamp"] and again["type"] == "Warning"
    other = events.record({**POD, "fieldPath": "spec.containers{c}"}, "Started", "Started container c")
    assert other["metadata"]["name"] != first["metadata"]["name"]
    assert [e["reason"] for e in events.list_events("demo")] == ["BackOff", "Started"]  # the order last seen
    assert events.list_events("other") == []
    # an hour after it was last seen, an Event is gone from reads, and pruned
    old = tmp_path / "events" / "demo" / f"{first['metadata']['name']}.json"
    os.utime(old, (time.time() - events.TTL - 5,) * 2)
    assert [e["reason"] for e in events.list_events("demo")] == ["Started"]
    assert events.prune() == 1 and not old.exists()
    # past the cap, the least recently seen go
    monkeypatch.setattr(events, "CAP", 5)
    for i in range(8):
        events.record({**POD, "name": f"p{i}", "uid": f"u{i}"}, "Scheduled", f"assigned p{i}")
    names = sorted(e["involvedObject"]["name"] for e in events.list_events())
    assert len(names) == 5 and "p7" in names and "web" not in names, names
