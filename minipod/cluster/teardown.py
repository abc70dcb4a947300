"""A teardown that goes on past a step that fails (`minipod cluster down`,
kubeadm reset's role): every step runs, each failure is reported and kept,
and the caller learns at the end, in one error, what was left."""

from minipod.errors import MinipodError


class Steps:
    def __init__(self, report, warn=None):
        self.report, self.warn = report, warn or report
        self.failed = []

    def run(self, what: str, action, *args, done: str = None):
        """``action(*args)``; on success, ``done`` is reported when the action
        says it did something (a true result). A failure is reported as
        "could not WHAT: why" and the next step runs. Returns the result (None
        after a failure)."""
        try:
            result = action(*args)
        except Exception as e:  # noqa: BLE001  (any step's failure is kept and said; the rest still runs)
            self.failed.append(f"{what}: {e}")
            self.warn(f"could not {what}: {e}")
            return None
        if done and result:
            self.report(done)
        return result

    def finish(self, kept: str = "") -> None:
        """Raise one MinipodError naming every step that failed (``kept``:
        what was left in place so that the teardown can be run again)."""
        if self.failed:
            raise MinipodError(f"{len(self.failed)} step(s) failed ({'; '.join(self.failed)})"
                               + (f"; {kept}" if kept else ""))
