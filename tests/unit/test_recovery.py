"""The agent's crash-recovery decisions without root: every mark a crash can
leave on a pod's or a container's record (roles/kubelet/recovery.py's table),
with the kernel's view and the lock, gives one decision: finish, undo or
redo. Each step of pod.create / container.run is walked in order."""

import pytest
from hypothesis import given, strategies as st

from minipod.roles.kubelet import recovery
from minipod.roles.kubelet.recovery import BUSY, KEEP, RECREATE, REDO, RESTART

PAUSE = {"pid": 4242, "start": 77, "boot": "b"}
ATT = "mptest-abc-eth0"

# The record as pod.create / pod._start leave it after each step, and
# whether pause is alive at that point: (step, record, pause alive).
POD_STEPS = [
    ("recorded", {"desired": "running", "pause": None, "network": "mptest", "attachments": []}, False),
    ("pause started, not yet recorded",
     {"desired": "running", "pause": None, "network": "mptest", "attachments": [], "ready": False}, False),
    ("pause recorded", {"desired": "running", "pause": PAUSE, "network": "mptest", "ready": False}, True),
    ("netns pinned", {"desired": "running", "pause": PAUSE, "network": "mptest", "ready": False,
                      "netns": "/run/netns/x"}, True),
    ("CNI ADD begun", {"desired": "running", "pause": PAUSE, "network": "mptest", "ready": False,
                       "netns": "/run/netns/x", "attachments": [ATT]}, True),
]


@pytest.mark.parametrize("step,rec,alive", POD_STEPS, ids=[s[0] for s in POD_STEPS])
def test_a_pod_whose_making_was_cut_is_made_again(step, rec, alive):
    assert recovery.pod_action(rec, alive, locked=False) == REDO
    # ... unless its maker still holds its lock: it is still at it
    assert recovery.pod_action(rec, alive, locked=True) == BUSY


WHOLE = {"desired": "running", "pause": PAUSE, "network": "mptest", "ready": True, "complete": True,
         "ip": "10.231.0.5/24", "attachments": [ATT]}


def test_a_whole_pod_is_kept():
    assert recovery.pod_action(WHOLE, True, False) == KEEP


def test_a_pod_whose_restart_was_cut_or_whose_pause_died_is_started_again():
    cut = {**WHOLE, "ready": False}  # pod.start: _start set ready False, then the crash
    assert recovery.pod_action(cut, True, False) == RESTART
    assert recovery.pod_action(cut, False, False) == RESTART
    assert recovery.pod_action(WHOLE, False, False) == RESTART  # pause died


def test_a_pod_that_lost_its_address_is_never_kept_running_without_one():
    assert recovery.pod_action({**WHOLE, "ip": None}, True, False) == RESTART


@pytest.mark.parametrize("network", ["host", "none"])
def test_pods_without_an_address_of_their_own_need_none(network):
    rec = {**WHOLE, "network": network, "ip": None}
    assert recovery.pod_action(rec, True, False) == KEEP


def test_a_pod_stopped_on_purpose_stays_stopped():
    assert recovery.pod_action({**WHOLE, "desired": "stopped", "pause": None}, False, False) == KEEP


CTR_STEPS = [
    ("recorded", {"pid": None}, RECREATE),
    ("cgroup made, process spawned, pid not yet recorded", {"pid": None, "cgroup": "m/pod-x/ctr-y"}, RECREATE),
    ("pid recorded (running or exited since)", {"pid": 99, "start": 5}, KEEP),
]


@pytest.mark.parametrize("step,rec,want", CTR_STEPS, ids=[s[0] for s in CTR_STEPS])
def test_container_steps(step, rec, want):
    assert recovery.container_action(rec, locked=False) == want
    assert recovery.container_action(rec, locked=True) == BUSY


RECORDS = st.fixed_dictionaries({}, optional={
    "desired": st.sampled_from(["running", "stopped"]), "complete": st.booleans(), "ready": st.booleans(),
    "pause": st.sampled_from([None, PAUSE]), "ip": st.sampled_from([None, "10.231.0.9/24"]),
    "network": st.sampled_from(["mptest", "host", "none"])})


@given(RECORDS, st.booleans())
def test_keep_only_what_is_whole_or_stopped_on_purpose(rec, alive):
    """The invariant Readiness rests on: a pod the agent keeps as it is
    (so starts containers in) is whole: made to the end, its pause alive,
    its address there when its network gives one."""
    action = recovery.pod_action(rec, alive, False)
    if action == KEEP and rec.get("desired") != "stopped":
        assert rec.get("complete") and rec.get("ready") and alive
        assert rec.get("ip") or rec.get("network") in ("host", "none")
    if not rec.get("complete") and rec.get("desired") != "stopped":
        assert action == REDO
