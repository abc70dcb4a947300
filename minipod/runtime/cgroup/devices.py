"""Device access rules: runc's default allow list, written to the v1
devices controller, or compiled into a small eBPF program of type
BPF_PROG_TYPE_CGROUP_DEVICE attached to a v2 cgroup (runc's
libcontainer/cgroups/devices/devicefilter.go is the model).

The program sees struct bpf_cgroup_dev_ctx {u32 access_type; u32 major;
u32 minor;} with access_type = access << 16 | type, and returns 1 to allow.
"""

import ctypes
import os
import struct
from dataclasses import dataclass

from minipod.errors import InvalidArgument

WILDCARD = -1


@dataclass(frozen=True)
class Rule:
    kind: str  # "c" char, "b" block, "a" all
    major: int
    minor: int
    access: str  # subset of "rwm"


# runc's AllowedDevices: mknod of any node (useless on a nodev rootfs and a
# read-only /dev), and the standard nodes plus ptys.
DEFAULT_RULES = (
    Rule("c", WILDCARD, WILDCARD, "m"), Rule("b", WILDCARD, WILDCARD, "m"),
    Rule("c", 1, 3, "rwm"), Rule("c", 1, 5, "rwm"), Rule("c", 1, 7, "rwm"),  # null zero full
    Rule("c", 1, 8, "rwm"), Rule("c", 1, 9, "rwm"), Rule("c", 5, 0, "rwm"),  # random urandom tty
    Rule("c", 5, 2, "rwm"), Rule("c", 136, WILDCARD, "rwm"),  # ptmx, /dev/pts/*
)


def v1_line(rule: Rule) -> str:
    """The devices.allow line, e.g. "c 1:3 rwm" or "c *:* m"."""
    def num(n):
        return "*" if n == WILDCARD else str(n)
    return f"{rule.kind} {num(rule.major)}:{num(rule.minor)} {rule.access}"


# --- eBPF ------------------------------------------------------------------
# Instruction: u8 opcode, u8 (src << 4 | dst), s16 offset, s32 immediate.
_LDX_W = 0x61       # dst = *(u32 *)(src + off)
_AND_K = 0x54       # dst &= imm (32-bit)
_RSH_K = 0x74       # dst >>= imm (32-bit)
_MOV_X = 0xBC       # dst = src (32-bit)
_JNE_K = 0x55       # if dst != imm: pc += off
_MOV64_K = 0xB7     # dst = imm
_EXIT = 0x95
_TYPES = {"b": 1, "c": 2}          # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def _insn(op, dst=0, src=0, off=0, imm=0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def program(rules) -> bytes:
    """The instructions: r2 = type, r3 = access, r4 = major, r5 = minor;
    each rule falls through to "return 1" or jumps to the next rule; the
    end returns 0 (deny)."""
    code = [_insn(_LDX_W, 2, 1, 0), _insn(_AND_K, 2, imm=0xFFFF),
            _insn(_LDX_W, 3, 1, 0), _insn(_RSH_K, 3, imm=16),
            _insn(_LDX_W, 4, 1, 4), _insn(_LDX_W, 5, 1, 8)]
    for rule in rules:
        checks = []
        if rule.kind != "a":
            checks.append([_insn(_JNE_K, 2, imm=_TYPES[rule.kind])])
        denied = 7 & ~sum(_ACCESS[a] for a in rule.access)
        if denied:  # any requested access outside the rule's: next rule
            checks.append([_insn(_MOV_X, 1, 3), _insn(_AND_K, 1, imm=denied), _insn(_JNE_K, 1, imm=0)])
        if rule.major != WILDCARD:
            checks.append([_insn(_JNE_K, 4, imm=rule.major)])
        if rule.minor != WILDCARD:
            checks.append([_insn(_JNE_K, 5, imm=rule.minor)])
        block = [i for check in checks for i in check] + [_insn(_MOV64_K, 0, imm=1), _insn(_EXIT)]
        # Patch each conditional jump to land just past this rule's block.
        for n, ins in enumerate(block):
            if ins[0] == _JNE_K:
                op, regs, _off, imm = struct.unpack("<BBhi", ins)
                block[n] = struct.pack("<BBhi", op, regs, len(block) - n - 1, imm)
        code += block
    code += [_insn(_MOV64_K, 0, imm=0), _insn(_EXIT)]
    return b"".join(code)


_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_BPF_PROG_TYPE_CGROUP_DEVICE, _BPF_CGROUP_DEVICE = 15, 6
_BPF_F_ALLOW_MULTI = 2


def _bpf(cmd: int, attr: bytes) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    number = _SYS_BPF.get(os.uname().machine)
    if number is None:
        raise OSError(38, f"bpf: unknown syscall number on {os.uname().machine}")
    buf = ctypes.create_string_buffer(attr, len(attr))
    result = libc.syscall(ctypes.c_long(number), ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf: {os.strerror(err)}")
    return result


def attach_bpf(cgroup_dir: str, rules) -> None:
    """Load the device program for ``rules`` and attach it to the cgroup;
    the cgroup keeps it alive, so the program fd is closed right away."""
    code = program(rules)
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache")
    # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license,
    # then zeros (no verifier log, no name).
    attr = struct.pack("<IIQQ", _BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                       ctypes.addressof(insns), ctypes.addressof(license_)).ljust(128, b"\0")
    prog = _bpf(_BPF_PROG_LOAD, attr)
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(_BPF_PROG_ATTACH, struct.pack("<IIII", cg, prog, _BPF_CGROUP_DEVICE,
                                               _BPF_F_ALLOW_MULTI).ljust(32, b"\0"))
        finally:
            os.close(cg)
    finally:
        os.close(prog)


def node_for(device: dict):
    """(the node to make in the container: path, kind, major, minor, mode;
    the cgroup rule that allows it) for a host device given to a container."""
    import stat as st
    host, target = device["host_path"], os.path.normpath(device.get("container_path") or device["host_path"])
    access = device.get("permissions") or "rwm"
    if not target.startswith("/dev/") or set(access) - set("rwm"):
        raise InvalidArgument(f"device {host}:{target}:{access}: the container path must be below /dev and the "
                              "permissions a subset of rwm")
    try:
        info = os.stat(host)
    except OSError as e:
        raise InvalidArgument(f"device {host}: {e.strerror}") from None
    if not (st.S_ISCHR(info.st_mode) or st.S_ISBLK(info.st_mode)):
        raise InvalidArgument(f"device {host} is not a character or block device")
    kind = "c" if st.S_ISCHR(info.st_mode) else "b"
    major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
    return (target, kind, major, minor, st.S_IMODE(info.st_mode)), Rule(kind, major, minor, access)
