"""Named kill points for crash-recovery tests.

MINIPOD_FAULT=<step> makes minipod SIGKILL itself when it reaches that
step, exactly as a crash there would. Read only at the points below.
"""

import os
import signal

STEPS = ("pod-create-recorded", "pod-pause-started", "pod-netns-pinned", "cni-plugin-added", "pod-network-added",
         "container-recorded", "container-started", "container-rm-killed", "pod-removal-begun",
         "pod-rm-torn-down")


def fault_point(step: str) -> None:
    if os.environ.get("MINIPOD_FAULT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
