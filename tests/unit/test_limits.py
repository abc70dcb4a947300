"""Resource-limit flags, security options, the seccomp profile loader and
the cgroup v2 device program: pure logic, no root."""

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipod import spec
from minipod.errors import InvalidArgument, MinipodError
from minipod.runtime import seccomp, seccomp_default
from minipod.runtime.cgroup import devices, v2

from tests.unit.test_properties import ARGV_TEXT, NUMBERISH, refused_or


@pytest.mark.parametrize("text,expected", [
    ("32m", 32 << 20), ("32M", 32 << 20), ("1g", 1 << 30), ("512k", 512 << 10),
    ("1048576", 1 << 20), ("64mb", 64 << 20), ("2t", 2 << 40), ("100b", 100)])
def test_sizes_as_docker_reads_them(text, expected):
    assert spec.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "m", "1.5g", "-1", "12x", "1 g", "٣m", "1e9", "9" * 30])
def test_bad_sizes_are_refused(text):
    with pytest.raises(InvalidArgument):
        spec.parse_size(text)


def test_limits_resolve_to_kernel_units():
    limits = spec.parse_limits(memory="64m", memory_swap="128m", cpus="0.5", cpu_shares="512",
                               pids_limit="50")
    assert limits == spec.Limits(64 << 20, 128 << 20, 50_000, 512, 50)
    assert spec.parse_limits(cpus="2").cpu_quota_us == 200_000
    assert spec.parse_limits(memory="64m", memory_swap="-1").memory_swap == -1
    assert spec.parse_limits(pids_limit="-1").pids is None
    assert not spec.parse_limits()


@pytest.mark.parametrize("kwargs,words", [
    ({"memory": "1m"}, "minimum is 6m"),
    ({"memory_swap": "1g"}, "needs --memory"),
    ({"memory": "64m", "memory_swap": "32m"}, "at least --memory"),
    ({"cpus": "0"}, "positive"), ({"cpus": "-1"}, "positive"), ({"cpus": "nan"}, "positive"),
    ({"cpus": "0.001"}, "minimum is 0.01"), ({"cpu_shares": "1"}, "2 to 262144"),
    ({"cpu_shares": "300000"}, "2 to 262144"), ({"pids_limit": "abc"}, "--pids-limit"),
    ({"pids_limit": "99999999"}, "--pids-limit")])
def test_bad_limits_name_the_flag(kwargs, words):
    with pytest.raises(InvalidArgument, match=words):
        spec.parse_limits(**kwargs)


@given(st.dictionaries(st.sampled_from(["memory", "memory_swap", "cpus", "cpu_shares", "pids_limit"]),
                       NUMBERISH | ARGV_TEXT, max_size=5))
def test_limit_flags_never_crash(kwargs):
    limits = refused_or(lambda: spec.parse_limits(**kwargs))
    if limits is not None:
        assert all(v is None or isinstance(v, int) for v in limits.as_dict().values())


def test_security_opts():
    assert spec.parse_security_opts([]) is None
    assert spec.parse_security_opts(["seccomp=unconfined"]) == "unconfined"
    assert spec.parse_security_opts(["seccomp:unconfined"]) == "unconfined"
    assert spec.parse_security_opts(["seccomp=/etc/p.json", "no-new-privileges"]) == "/etc/p.json"
    for bad in (["apparmor=x"], ["seccomp"], ["seccomp="], ["label=disable"]):
        with pytest.raises(InvalidArgument):
            spec.parse_security_opts(bad)


@given(st.lists(ARGV_TEXT, max_size=3))
def test_security_opts_never_crash(items):
    refused_or(spec.parse_security_opts, items)


def _names(resolved, action="SCMP_ACT_ALLOW"):
    return {n for r in resolved["syscalls"] if r["action"] == action for n in r["names"]}


def test_default_profile_follows_capabilities():
    profile = seccomp_default.profile()
    plain = seccomp.resolve(profile, {"CAP_CHOWN", "CAP_NET_RAW"})
    allowed = _names(plain)
    assert {"read", "execve", "socket", "clone"} <= allowed
    assert not {"unshare", "mount", "keyctl", "add_key", "bpf", "kexec_load", "setns"} & allowed
    # clone only without namespace flags; clone3 answers ENOSYS
    clone = [r for r in plain["syscalls"] if r["names"] == ["clone"]]
    assert clone and clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    assert any(r["names"] == ["clone3"] and r["errnoRet"] == 38 for r in plain["syscalls"])
    admin = seccomp.resolve(profile, {"CAP_SYS_ADMIN"})
    assert {"unshare", "mount", "setns", "clone3"} <= _names(admin)
    assert not any(r["names"] == ["clone3"] and r["action"] == "SCMP_ACT_ERRNO" for r in admin["syscalls"])
    # docker's minKernel 4.8 rule: ptrace and process_vm_* without CAP_SYS_PTRACE on any current kernel
    assert {"ptrace", "process_vm_readv", "process_vm_writev"} <= _names(plain)


def test_profile_file_in_docker_format(tmp_path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_GE"}]}]}))
    assert seccomp.load_profile(str(good))["syscalls"][0]["names"] == ["mkdir"]
    for text, words in [("{", "not valid JSON"), ("[]", "defaultAction"),
                        ('{"defaultAction": "SCMP_ACT_NOPE"}', "defaultAction"),
                        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"]}]}', "action"),
                        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], '
                         '"action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]}', "index")]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(InvalidArgument, match=words):
            seccomp.load_profile(str(bad))
    with pytest.raises(InvalidArgument, match="cannot read"):
        seccomp.load_profile(str(tmp_path / "missing.json"))


@given(st.recursive(st.none() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["defaultAction", "syscalls", "names", "action", "args",
                                         "index", "op", "value"]), inner, max_size=4), max_leaves=15))
def test_any_profile_json_is_checked_without_crashing(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("p") / "p.json"
    path.write_text(json.dumps(data))
    try:
        seccomp.resolve(seccomp.load_profile(str(path)), set())
    except MinipodError:
        pass


def test_compiled_filter_is_cached(tmp_path):
    first = seccomp.compiled(None, {"CAP_CHOWN"}, tmp_path)
    assert len(first) % 8 == 0 and len(first) > 8 * 100  # struct sock_filter entries
    assert len(list(tmp_path.iterdir())) == 1
    assert seccomp.compiled(None, {"CAP_CHOWN"}, tmp_path) == first
    assert seccomp.compiled(None, {"CAP_SYS_ADMIN"}, tmp_path) != first
    assert len(list(tmp_path.iterdir())) == 2


def _decode(program):
    return [struct.unpack("<BBhi", program[i:i + 8]) for i in range(0, len(program), 8)]


def test_device_program_shape():
    rules = [devices.Rule("c", 1, 3, "rwm"), devices.Rule("b", devices.WILDCARD, devices.WILDCARD, "m")]
    insns = _decode(devices.program(rules))
    assert insns[-2:] == [(0xB7, 0, 0, 0), (0x95, 0, 0, 0)]  # default: return 0 (deny)
    # every conditional jump lands on an instruction of the program
    for n, (op, _regs, off, _imm) in enumerate(insns):
        if op == 0x55:
            assert 0 < n + off + 1 < len(insns)
    assert sum(1 for op, *_ in insns if op == 0x95) == len(rules) + 1


def test_v1_lines_and_v2_weights():
    assert [devices.v1_line(r) for r in devices.DEFAULT_RULES[:3]] == ["c *:* m", "b *:* m", "c 1:3 rwm"]
    assert v2.cpu_weight(2) == 1 and v2.cpu_weight(262144) == 10000 and v2.cpu_weight(1024) == 39


def test_labels_use_kubernetes_syntax():
    assert spec.parse_labels(["app=web", "example.com/tier=front", "empty="]) == \
        {"app": "web", "example.com/tier": "front", "empty": ""}
    for bad in ("app", "=web", "a b=c", "app=with space", "x" * 64 + "=v", "Bad.Prefix/app=x"):
        with pytest.raises(InvalidArgument, match="invalid label"):
            spec.parse_labels([bad])


@given(st.lists(ARGV_TEXT, max_size=3))
def test_label_flags_never_crash(items):
    refused_or(spec.parse_labels, items)
