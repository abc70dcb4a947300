"""How the CRI waits for a cluster node's policy controller to load a new
pod's rules (minipod.roles.policy.link), with a real signal to a real pid."""

import os
import signal
import time

from minipod.roles.policy import link


def test_without_a_controller_it_does_not_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    start = time.monotonic()
    assert link.wait_for_rules() is False
    assert time.monotonic() - start < 0.1


def test_it_wakes_the_controller_and_waits_for_a_pass_begun_after(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    link.register(os.getpid())  # this process plays the controller: SIGUSR1 makes it pass
    link.passed(time.time() - 10)  # an older pass does not count
    old = signal.signal(signal.SIGUSR1, lambda *_: link.passed(time.time()))
    try:
        assert link.wait_for_rules(timeout=2) is True
        signal.signal(signal.SIGUSR1, lambda *_: None)  # a controller that does not pass in time
        assert link.wait_for_rules(timeout=0.2) is False
    finally:
        signal.signal(signal.SIGUSR1, old)
        link.unregister()
    assert link.wait_for_rules() is False
