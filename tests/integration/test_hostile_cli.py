"""Every verb with hostile arguments: one line, exit 125, nothing changed.

The classes of input a user (or a script with a bug) can hand the CLI:
very long names, NUL-free binary junk that is not UTF-8, unicode that looks
like ASCII or is not a digit where one is expected, negative, huge and
non-finite numbers, and empty strings. Each must be refused as minipod's own
error, never an "internal error", and must leave the state as it was.
"""

import os
import subprocess

from tests.conftest import TEST_ENV
from tests.integration.conftest import MP, mp, state_snapshot

LONG = "a" * 10_000
JUNK = b"\x01\x7f\xfe\xff\xc3(\x80junk"  # not UTF-8; argv cannot hold a NUL
UNICODE = ["名前", "ｂｕｓｙｂｏｘ", "busybox\u202e", "e\u0301", "🐳", "٨٠", "²", "bad\nname"]
NAMES = [LONG, JUNK] + UNICODE
# An empty reference names nothing; an empty --name, --network, --pod or
# --bridge means "not given", as in docker and podman, so only refs get "".
REFS = NAMES + [""]

# Verbs that take an object reference: none of these values names one.
REF_VERBS = [["inspect"], ["rm"], ["rm", "-f"], ["stop"], ["kill"], ["logs"], ["exec", "{}", "true"],
             ["pod", "inspect"], ["pod", "rm"], ["pod", "rm", "-f"], ["pod", "stop"], ["pod", "start"],
             ["pod", "check"], ["network", "rm"], ["network", "inspect"], ["image", "rm"], ["image", "rm", "-f"],
             ["start"], ["restart"], ["volume", "inspect"], ["volume", "rm"], ["get", "pod"],
             ["describe", "deploy"], ["delete", "pod"], ["scale", "--replicas", "1"]]
# Flags whose value is a name minipod validates or looks up.
NAME_FLAGS = [["run", "--name", "{}", "busybox"], ["run", "--hostname", "{}", "busybox"],
              ["run", "--network", "{}", "busybox"], ["run", "--pod", "{}", "busybox"], ["run", "{}"],
              ["pod", "create", "--name", "{}"], ["pod", "create", "--hostname", "{}"],
              ["pod", "create", "--network", "{}"], ["network", "create", "{}", "--subnet", "10.232.0.0/24"],
              ["network", "create", "ok", "--subnet", "10.232.0.0/24", "--bridge", "{}"],
              ["image", "import", "/nonexistent.tar", "{}"], ["run", "--cap-add", "{}", "busybox"],
              ["run", "-w", "{}", "busybox"], ["run", "-e", "{}", "busybox"], ["network", "show", "{}"],
              ["run", "--security-opt", "{}", "busybox"], ["stats", "--no-stream", "{}"],
              ["run", "-l", "{}", "busybox"], ["pod", "create", "-l", "{}"],
              ["run", "-v", "{}", "busybox"], ["run", "-v", "{}:/x", "busybox"], ["run", "-v", "/tmp:{}", "busybox"],
              ["run", "--mount", "{}", "busybox"], ["run", "--mount", "type=volume,src={},dst=/x", "busybox"],
              ["run", "--tmpfs", "{}", "busybox"], ["run", "-d", "--restart", "{}", "busybox"],
              ["volume", "create", "{}"], ["get", "{}"], ["get", "pods", "-l", "{}"]]
NUMBERS = ["-1", "-9", "99999999999999999999", "1e400", "nan", "inf", "-inf", "0x10", "٣", "²", "", " "]
NUMBER_FLAGS = [["stop", "-t", "{}", "existing"], ["pod", "stop", "-t", "{}", "nosuch"],
                ["pod", "rm", "-t", "{}", "nosuch"], ["kill", "-s", "{}", "existing"],
                ["run", "-p", "{}:80", "busybox"], ["run", "-p", "80:{}", "busybox"],
                ["run", "-u", "{}", "busybox"], ["exec", "-u", "{}", "existing", "true"],
                ["network", "create", "n", "--subnet", "10.232.0.0/{}"],
                ["network", "create", "n", "--subnet", "10.232.0.0/24", "--gateway", "10.232.0.{}"],
                ["run", "-m", "{}", "busybox"], ["run", "--cpus", "{}", "busybox"],
                ["run", "--cpu-shares", "{}", "busybox"], ["pod", "create", "--pids-limit", "{}"],
                ["run", "-m", "64m", "--memory-swap", "{}", "busybox"], ["pod", "create", "-m", "{}"],
                ["scale", "deploy/nosuch", "--replicas", "{}"], ["restart", "-t", "{}", "nosuch"],
                ["run", "-d", "--restart", "on-failure:{}", "busybox"], ["agent", "logs", "-n", "{}"]]
# -1 is docker's "unlimited" for these two: a valid value, not a hostile one.
MINUS_ONE_VALID = ("--pids-limit", "--memory-swap")


def _fill(template, value):
    """The template with "{}" (alone or inside an argument) replaced."""
    out = []
    for arg in template:
        if "{}" not in arg:
            out.append(arg)
        elif isinstance(value, bytes):
            out.append(arg.encode().replace(b"{}", value))
        else:
            out.append(arg.replace("{}", value))
    return out


def _commands():
    for verb in REF_VERBS:
        for value in REFS:
            yield _fill(verb, value) if "{}" in verb else verb + [value]
    for template in NAME_FLAGS:
        for value in NAMES:
            yield _fill(template, value)
    for template in NUMBER_FLAGS:
        for value in NUMBERS:
            if not value and "-u" in template:  # -u "" means "not given" (docker's reading)
                continue
            if value == "-1" and any(flag in template for flag in MINUS_ONE_VALID):
                continue
            yield _fill(template, value)


def _run(args):
    argv = [a if isinstance(a, bytes) else a.encode("utf-8", "surrogateescape") for a in MP + args]
    return subprocess.run(argv, capture_output=True, timeout=60, env={**os.environ, **TEST_ENV})


def test_hostile_arguments_are_one_line_125_and_change_nothing():
    # it must outlive the test however slow the machine (emulated VMs take minutes)
    mp("run", "-d", "--name", "existing", "--network", "none", "busybox", "sleep", "86400")
    before = state_snapshot()
    failures = []
    count = 0
    for args in _commands():
        count += 1
        proc = _run(args)
        err = proc.stderr.decode(errors="replace")
        lines = err.strip().splitlines()
        if proc.returncode != 125 or len(lines) != 1 or not lines[0].startswith("minipod: ") \
                or "internal error" in err or "Traceback" in err:
            failures.append(f"{args!r:.200}: exit {proc.returncode}: {err[:300]!r}")
    assert not failures, f"{len(failures)} of {count} commands:\n" + "\n".join(failures)
    assert count > 300
    assert state_snapshot() == before
