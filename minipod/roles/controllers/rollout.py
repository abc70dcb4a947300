"""The Deployment controller's arithmetic, pure (unit-tested): a rolling
update's bounds from maxSurge and maxUnavailable, and one step of it, as
pkg/controller/deployment/rolling.go takes them.

A step scales the new ReplicaSet up as far as maxSurge lets the total go,
then scales old ones down as far as maxUnavailable lets availability fall:
first their pods that are not available anyway, then the oldest ones."""

import math


def _value(v, replicas: int, round_up: bool) -> int:
    """An IntOrString of a rolling update: a count, or a percent of ``replicas``."""
    if isinstance(v, str) and v.endswith("%"):
        share = replicas * int(v[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(v)


def bounds(replicas: int, rolling: dict) -> tuple:
    """(maxSurge, maxUnavailable) as counts: surge rounds up, unavailable
    down; both zero would deadlock, so maxUnavailable is then 1."""
    surge = _value(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _value(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def step(replicas: int, surge: int, unavailable: int, new: dict, olds: list) -> dict:
    """The replicas to set this step: {name: replicas} of the ReplicaSets
    that change (empty: nothing to do). ``new``: {"name", "replicas",
    "available"} of the new ReplicaSet; ``olds``: the same of each old one
    (oldest first). Up and down are steps of their own, as the controller's
    syncs are: a step that scales up does only that."""
    total = new["replicas"] + sum(o["replicas"] for o in olds)
    if new["replicas"] < replicas:  # up, as far as replicas + maxSurge pods in all
        grow = min(replicas - new["replicas"], max(0, replicas + surge - total))
        if grow:
            return {new["name"]: new["replicas"] + grow}
    elif new["replicas"] > replicas:  # scaled down meanwhile
        return {new["name"]: replicas}
    min_available = replicas - unavailable
    budget = total - min_available - max(0, new["replicas"] - new["available"])
    now = {o["name"]: o["replicas"] for o in olds}
    for o in olds:  # old pods that are not available cost no availability: they go first
        if budget <= 0:
            break
        cut = min(budget, max(0, o["replicas"] - o["available"]))
        now[o["name"]] -= cut
        budget -= cut
    available = new["available"] + sum(min(o["available"], now[o["name"]]) for o in olds)
    spare = available - min_available  # then the oldest, as long as enough stay available
    for o in olds:
        if spare <= 0:
            break
        cut = min(now[o["name"]], spare)
        now[o["name"]] -= cut
        spare -= cut
    return {o["name"]: now[o["name"]] for o in olds if now[o["name"]] != o["replicas"]}
