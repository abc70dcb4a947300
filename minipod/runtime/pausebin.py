"""The pause binary: pause.c, compiled once per source version.

``gcc -Os -static`` of pause.c into <lib root>/bin/<source hash>/pause, the
first time a pod needs it (scripts/setup does it ahead). A static binary of
~800 KB whose text pages every pod shares: a pod's pause then costs tens of
kilobytes of its own, where a Python interpreter cost 4 MB. The directory is
named after the source's hash, so an edited pause.c is built again, and the
file is named ``pause`` so the kernel names the process ``pause``.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from minipod.errors import MinipodError

SOURCE = Path(__file__).with_name("pause.c")
CFLAGS = ["-Os", "-static", "-s", "-Wall", "-Werror"]


def path(bin_dir: Path) -> Path:
    """Where the binary of this pause.c lives (built or not)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    return bin_dir / digest / "pause"


def ensure(bin_dir: Path) -> Path:
    """The pause binary, built first if it is not there yet."""
    exe = path(bin_dir)
    if os.access(exe, os.X_OK):
        return exe
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise MinipodError("cannot build the pause binary: no C compiler (cc or gcc); "
                           "scripts/setup installs gcc and libc6-dev")
    exe.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its place and renamed: concurrent first pods never run a half-written file.
    tmp = exe.with_name(f".pause.{os.getpid()}")
    proc = subprocess.run([compiler, *CFLAGS, "-o", str(tmp), str(SOURCE)], capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        detail = " ".join(proc.stderr.split())[:300]
        raise MinipodError(f"cannot build the pause binary with {compiler}: {detail} "
                           "(a static build needs libc6-dev)")
    os.chmod(tmp, 0o755)
    os.replace(tmp, exe)
    return exe
