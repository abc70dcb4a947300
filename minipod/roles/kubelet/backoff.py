"""The kubelet's CrashLoopBackOff, as a pure function of a container's
history: the first restart is immediate, then 10 s, doubling, capped at
5 minutes; a container that ran for 10 minutes starts over.

MINIPOD_BACKOFF_BASE and MINIPOD_BACKOFF_MAX (seconds) shorten the
delays, as the tests do so that they need not wait minutes; the agent
reads them from the environment it was started with.
"""

import os

BASE = 10.0
CAP = 300.0
RESET_AFTER = 600.0


def limits() -> tuple:
    """(base, cap) in seconds, from the environment when overridden."""
    def env(name, default):
        try:
            value = float(os.environ.get(name, default))
        except ValueError:
            return default
        return value if 0 <= value < 86400 else default
    base = env("MINIPOD_BACKOFF_BASE", BASE)
    return base, max(base, env("MINIPOD_BACKOFF_MAX", CAP))


def next_delay(previous, ran_for: float, base: float = BASE, cap: float = CAP) -> float:
    """The wait before the next restart. ``previous`` is the last delay
    (None: the container never crashed since it last ran for long);
    ``ran_for`` is how long the run that just ended lasted."""
    if previous is None or ran_for >= RESET_AFTER:
        return 0.0
    return min(cap, base if previous <= 0 else previous * 2)


def should_restart(policy: str, exit_code, restarts: int, max_restarts: int = 0) -> bool:
    """Kubernetes' restartPolicy (Always | OnFailure | Never) and docker's
    --restart (always | unless-stopped | on-failure[:N] | no), for a
    container that exited on its own (not stopped by the user)."""
    if policy in ("Always", "always", "unless-stopped"):
        return True
    if policy in ("OnFailure", "on-failure"):
        failed = exit_code is None or exit_code != 0
        return failed and (max_restarts <= 0 or restarts < max_restarts)
    return False
