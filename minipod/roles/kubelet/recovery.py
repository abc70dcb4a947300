"""What the agent decides first, in every pass, about the pods it realises
for Pod objects: finish, undo or redo what a crash left half-made (an
earlier agent SIGKILLed mid-step, or a CLI call on such a pod).

Every step of making a pod writes its intent before it and its outcome
after it (pod.py, container.py, cni/runtime.py):

    pod record saved ............ "complete" unset, no pause
    cgroup, pause started ....... the cgroup is named in the record before it
                                  exists; pause's pid + start time after
    netns pinned ................ at a path derived from the pod's name
    each CNI attachment ......... its key in the record, then its cache file,
                                  both before the first plugin runs
    address known, /etc files ... "ip", then "ready" and "complete" together
    container record saved ...... no pid
    container process started ... pid + start time (its cgroup named before)

So the marks left by a crash, with the kernel's view (is pause alive?) and
the locks (is someone still at it?), say what to do. Everything a
half-made pod or container holds is found from its record (attachments,
netns pin, cgroup, whose processes are killed with it), so undoing is
the ordinary teardown. The decisions are pure (the kernel's view is an
argument): tests/unit walks every pair.
"""

from minipod.core import pod

BUSY = "busy"  # its lock is held: whoever holds it finishes or undoes it
KEEP = "keep"  # whole (or stopped on purpose): nothing to do
REDO = "redo"  # its making was cut: tear down whatever exists, make it again
RESTART = "restart"  # made once, but pause or its network is not whole: start both again
RECREATE = "recreate"  # a container recorded but never started: remove it, make it again


def pod_action(rec: dict, pause_alive: bool, locked: bool) -> str:
    """What to do with a realised pod, from its record's marks."""
    if locked:
        return BUSY
    if rec.get("desired") == "stopped":
        return KEEP
    if not rec.get("complete"):
        return REDO  # never made whole: no container of it was ever started
    if not pod.is_whole(rec, pause_alive):
        return RESTART  # a (re)start was cut, pause died, or its IP went: its containers wait
    return KEEP


def container_action(rec: dict, locked: bool) -> str:
    """What to do with a container of a realised pod."""
    if locked:
        return BUSY
    if not rec.get("pid"):
        return RECREATE  # recorded, maybe its process made, never recorded as started
    return KEEP  # running or exited: the restart policy's business

