"""Seccomp filters for container processes, built by libseccomp.

A profile in docker's JSON format (the default one, or ``--security-opt
seccomp=FILE``) is resolved for the container's capabilities and this
machine's architecture and kernel, compiled to BPF by libseccomp (through
pyseccomp, ctypes over Debian's libseccomp2), and cached by content under
<lib root>/seccomp/: a cache hit costs a file read, not a compile. The
child installs the compiled program itself, last before exec, after its
capabilities are reduced and no_new_privs is set (runc's order), so the
runtime is never filtered.
"""

import contextlib
import ctypes
import json
import os
import struct

from minipod.errors import InvalidArgument, MinipodError

UNCONFINED = "unconfined"
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "x86",
                 "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
_OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
        "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
_ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")


def load_profile(source) -> dict:
    """The profile for ``source``: None (the default), or a path to a
    profile in docker's JSON format (checked here, so a bad file is one
    clear line before anything is created)."""
    if source is None:
        from minipod.runtime import seccomp_default
        return seccomp_default.profile()
    try:
        with open(source, "rb") as f:
            profile = json.loads(f.read(1 << 22))
    except OSError as e:
        raise InvalidArgument(f"cannot read seccomp profile {source}: {e.strerror}") from None
    except ValueError as e:
        raise InvalidArgument(f"seccomp profile {source} is not valid JSON: {e}") from None
    _validate(profile, source)
    return profile


def _validate(profile, source) -> None:
    def bad(why):
        raise InvalidArgument(f"seccomp profile {source}: {why}")
    if not isinstance(profile, dict) or profile.get("defaultAction") not in _ACTIONS:
        bad(f"defaultAction must be one of {', '.join(_ACTIONS)}")
    rules = profile.get("syscalls") or []
    if not isinstance(rules, list):
        bad("syscalls must be a list")
    for i, rule in enumerate(rules):
        where = f"syscalls[{i}]"
        if not isinstance(rule, dict) or rule.get("action") not in _ACTIONS:
            bad(f"{where}.action must be one of {', '.join(_ACTIONS)}")
        names = rule.get("names") or ([rule["name"]] if isinstance(rule.get("name"), str) else None)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            bad(f"{where}.names must be a list of syscall names")
        for j, arg in enumerate(rule.get("args") or []):
            if not isinstance(arg, dict) or arg.get("op") not in _OPS or \
                    not isinstance(arg.get("index"), int) or not 0 <= arg["index"] <= 5 or \
                    not isinstance(arg.get("value", 0), int) or not isinstance(arg.get("valueTwo", 0), int):
                bad(f"{where}.args[{j}] needs index 0-5, an integer value and op one of {', '.join(_OPS)}")


def _kernel_at_least(version: str) -> bool:
    def parts(text):
        out = []
        for piece in text.split("-")[0].split(".")[:2]:
            digits = "".join(ch for ch in piece if ch.isdigit())
            out.append(int(digits or 0))
        return tuple(out)
    return parts(os.uname().release) >= parts(version)


def resolve(profile: dict, caps: set) -> dict:
    """The profile with includes/excludes decided for ``caps`` (names such
    as CAP_SYS_ADMIN), this architecture and this kernel; docker's rules:
    every included capability must be held, no excluded one may be."""
    arch = _ARCH_ALIASES.get(os.uname().machine, os.uname().machine)
    kept = []
    for rule in profile.get("syscalls") or []:
        inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
            continue
        if set(exc.get("caps") or ()) & caps or arch in (exc.get("arches") or ()):
            continue
        names = rule.get("names") or [rule["name"]]
        kept.append({"names": names, "action": rule["action"], "errnoRet": rule.get("errnoRet"),
                     "args": rule.get("args") or []})
    return {"defaultAction": profile["defaultAction"],
            "defaultErrnoRet": profile.get("defaultErrnoRet"),
            "archMap": profile.get("archMap") or [], "syscalls": kept}


def compiled(source, caps: set, cache_dir) -> bytes:
    """The BPF program (struct sock_filter array) for ``source`` and
    ``caps``: from the cache, or compiled by libseccomp and cached."""
    import hashlib  # only `run` compiles or looks up a filter
    resolved = resolve(load_profile(source), caps)
    text = json.dumps([resolved, os.uname().machine], sort_keys=True).encode()
    path = os.path.join(cache_dir, hashlib.sha256(text).hexdigest() + ".bpf")
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        pass
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            _build(resolved).export_bpf(f)
    except (OSError, RuntimeError) as e:  # libseccomp missing, or it refused the profile
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise MinipodError(f"cannot compile the seccomp profile {source or '(default)'}: {e}") from e
    with open(tmp, "rb") as f:
        program = f.read()
    os.replace(tmp, path)
    return program


def _action(sc, name: str, errno_ret, default_errno) -> int:
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(errno_ret if errno_ret is not None else (default_errno or 1))
    if name == "SCMP_ACT_TRACE":
        return sc.TRACE(errno_ret or 0)
    return {"SCMP_ACT_ALLOW": sc.ALLOW, "SCMP_ACT_KILL": sc.KILL_THREAD,
            "SCMP_ACT_KILL_THREAD": sc.KILL_THREAD, "SCMP_ACT_KILL_PROCESS": sc.KILL_PROCESS,
            "SCMP_ACT_TRAP": sc.TRAP, "SCMP_ACT_LOG": sc.LOG}[name]


def _build(resolved: dict):
    import pyseccomp as sc  # only on a cache miss: it looks libseccomp up at import
    default_errno = resolved.get("defaultErrnoRet")
    default = _action(sc, resolved["defaultAction"], default_errno, default_errno)
    filt = sc.SyscallFilter(default)
    native = f"SCMP_ARCH_{os.uname().machine.upper()}"
    for entry in resolved["archMap"]:
        if entry.get("architecture") == native:
            for sub in entry.get("subArchitectures") or ():
                arch = getattr(sc.Arch, sub.removeprefix("SCMP_ARCH_"), None)
                if arch is not None and not filt.exist_arch(arch):
                    filt.add_arch(arch)
    for rule in resolved["syscalls"]:
        action = _action(sc, rule["action"], rule.get("errnoRet"), default_errno)
        if action == default:
            continue  # libseccomp refuses a rule that repeats the default
        args = [sc.Arg(a["index"], _OPS.index(a["op"]) + 1, a.get("value", 0), a.get("valueTwo", 0))
                for a in rule["args"]]
        # docker: comparisons on distinct arguments are ANDed in one rule;
        # several on the same argument become one rule each (ORed).
        groups = [args] if len({a["index"] for a in rule["args"]}) == len(args) else [[a] for a in args]
        for name in rule["names"]:
            for group in groups:
                try:
                    filt.add_rule(action, name, *group)
                except OSError:
                    pass  # a syscall this architecture or libseccomp does not know
    return filt


_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program: bytes) -> None:
    """Install ``program`` on the calling process (needs no_new_privs or
    CAP_SYS_ADMIN). From here on the filter applies to it and its children."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // struct.calcsize("HBBI"), ctypes.addressof(buf))
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")
