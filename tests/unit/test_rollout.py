"""A rolling update's arithmetic (roles/controllers/rollout.py), as the Deployment controller does it."""

from minipod.roles.controllers import rollout


def test_bounds_round_surge_up_and_unavailable_down():
    assert rollout.bounds(3, {}) == (1, 0)  # 25% of 3: 0.75 up and down
    assert rollout.bounds(20, {}) == (5, 5)
    assert rollout.bounds(4, {"maxSurge": 0, "maxUnavailable": 0}) == (0, 1)  # never both zero
    assert rollout.bounds(10, {"maxSurge": "50%", "maxUnavailable": 2}) == (5, 2)


def _rs(name, replicas, available):
    return {"name": name, "replicas": replicas, "available": available}


def test_a_rollout_of_three_with_the_defaults_steps_one_by_one():
    surge, unavailable = rollout.bounds(3, {})
    new, old = _rs("new", 0, 0), _rs("old", 3, 3)
    seen = []
    for _ in range(20):
        change = rollout.step(3, surge, unavailable, new, [old])
        if not change:
            new["available"] = new["replicas"]  # the new pods become available
            change = rollout.step(3, surge, unavailable, new, [old])
            if not change:
                break
        new["replicas"] = change.get("new", new["replicas"])
        old["replicas"] = old["available"] = change.get("old", old["replicas"])
        assert new["replicas"] + old["replicas"] <= 3 + surge  # never more than maxSurge over
        assert new["available"] + old["available"] >= 3 - unavailable  # never fewer available than allowed
        seen.append((new["replicas"], old["replicas"]))
    assert seen == [(1, 3), (1, 2), (2, 2), (2, 1), (3, 1), (3, 0)] and new["replicas"] == 3


def test_max_unavailable_lets_old_pods_go_before_new_ones_are_ready():
    change = rollout.step(4, 0, 2, _rs("new", 0, 0), [_rs("old", 4, 4)])
    assert change == {"old": 2}  # no surge: make room first
    assert rollout.step(4, 0, 2, _rs("new", 0, 0), [_rs("old", 2, 2)]) == {"new": 2}


def test_unavailable_old_pods_go_first_and_a_scale_down_applies():
    assert rollout.step(2, 1, 0, _rs("new", 2, 2), [_rs("a", 1, 0), _rs("b", 1, 1)]) == {"a": 0, "b": 0}
    assert rollout.step(1, 1, 0, _rs("new", 3, 3), []) == {"new": 1}
