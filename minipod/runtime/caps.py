"""Capabilities and no_new_privs for container processes (python-prctl).

The default set is containerd's 14 (see shared/design/SECURITY.md): no
CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_MODULE or CAP_SYS_PTRACE, so mount,
`ip link add`, module loading and ptrace of host processes fail inside.
"""

import prctl  # imported here: after setns into a container, the venv is out of reach

DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW",
                "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
                "SYS_CHROOT", "KILL", "AUDIT_WRITE")


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40


def resolve(names) -> set:
    """Map names like 'NET_ADMIN' or 'CAP_NET_ADMIN' (or 'ALL') to numbers."""
    from minipod.errors import InvalidArgument
    out = set()
    for name in names:
        key = name.upper().removeprefix("CAP_")
        if key == "ALL":
            out |= set(range(last_cap() + 1))
            continue
        number = getattr(prctl, "CAP_" + key, None)
        if not isinstance(number, int):
            raise InvalidArgument(f"unknown capability {name!r}")
        out.add(number)
    return out


_NOT_CAPABILITIES = {"CAP_EFFECTIVE", "CAP_INHERITABLE", "CAP_PERMITTED", "CAP_LAST_CAP"}


def names(numbers) -> set:
    """Capability numbers to names such as "CAP_SYS_ADMIN" (seccomp
    profiles name capabilities)."""
    by_number = {getattr(prctl, n): n for n in dir(prctl)
                 if n.startswith("CAP_") and n not in _NOT_CAPABILITIES}
    return {by_number[c] for c in numbers if c in by_number}


def effective_set(cap_add=(), cap_drop=(), privileged=False) -> set:
    """The capability numbers a container keeps."""
    if privileged:
        return set(range(last_cap() + 1))
    return (resolve(DEFAULT_CAPS) | resolve(cap_add)) - resolve(cap_drop)


def drop_bounding(keep: set) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs
    CAP_SETPCAP, so call it while still root and before setuid)."""
    for cap in range(last_cap() + 1):
        if cap not in keep:
            try:
                prctl.capbset_drop(cap)
            except (OSError, ValueError):
                pass  # unknown to this kernel


def limit_sets(keep: set, no_new_privs: bool = True) -> None:
    """Empty the inheritable set, reduce permitted and effective, and set
    no_new_privs (unless asked not to: the CRI's allowPrivilegeEscalation).
    Call last before exec (after any setuid)."""
    known = [c for c in keep if c in prctl.ALL_CAPS]
    # Inheritable stays empty, as containerd and runc do since
    # CVE-2022-24769. capset(2) requires effective within permitted at each step.
    prctl.cap_inheritable.limit()
    prctl.cap_effective.limit(*known)
    prctl.cap_permitted.limit(*known)
    if no_new_privs:
        prctl.set_no_new_privs(True)
