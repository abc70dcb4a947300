"""What gc found and what became of it (Finding), and one pass's report
(_Report: each release tried, then checked)."""

from dataclasses import dataclass

from minipod.errors import MinipodError


@dataclass
class Finding:
    """One thing gc found, and what became of it."""

    kind: str
    item: str
    outcome: str = "leaked"  # leaked (dry run), removed, failed, forced, busy (left to its owner)
    reason: str = ""

    def line(self) -> str:
        return f"{self.outcome}\t{self.kind}\t{self.item}" + (f": {self.reason}" if self.reason else "")


def _one_line(error) -> str:
    return " ".join(str(error).split())


class _Report:
    """The findings of one pass: each release is tried, then checked."""

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        self.found = []

    def add(self, kind, item, release, gone=None):
        """Report ``item``; unless a dry run, ``release()`` it and call it
        removed only if it raised nothing and ``gone()`` (when given) holds."""
        if self.dry_run:
            self.found.append(Finding(kind, item))
            return
        try:
            release()
        except (OSError, MinipodError) as e:
            self.found.append(Finding(kind, item, "failed", _one_line(e)))
            return
        if gone is not None and not gone():
            self.found.append(Finding(kind, item, "failed", "still there after its removal"))
            return
        self.found.append(Finding(kind, item, "removed"))

    def extend(self, findings):
        self.found += findings
