"""Run the shell sessions in a markdown document and check them as written.

A ```console block holds commands (lines starting with "$ "), each followed
by its whole expected output. A step passes when the command exits 0 and
prints exactly those lines: literally, but for the runs of white space
(column widths follow the data) and blank lines. What really varies from
run to run must be said, so that nothing else can:

- ids (a run of 12 or more hex digits with a letter and a digit: container
  and pod ids, hashes) and ages (`5s`, `3m20s`, `12 seconds ago`, `(x3 over
  40s)`) match any id and any age, always;
- every other varying value is named in an HTML comment right above the
  block, which markdown does not show: `<!-- varies: 10.244.0.12 30080 -->`.
  Each named value matches any value of its shape there (an address any
  address, a number any number, a name any name);
- a line `...` stands for any number of lines (where a doc shows part of
  a long output).

A step that is meant to fail says so in its own command (`…; echo "exit
$?"`), as a reader would check it. A ```console cleanup block always runs at
the end, even after a failure.

    python -m tests.docs_runner --update docs/pause.md   # rewrite outputs from a real run
    python -m tests.docs_runner docs/pause.md            # check
"""

import functools
import re
import subprocess
import sys
from dataclasses import dataclass, field

BLOCK_RE = re.compile(r"^(?:<!-- varies: (?P<varies>.*?) -->\n)?```console(?P<cleanup> cleanup)?\n(?P<body>.*?)^```\n",
                      re.S | re.M)

ID = r"(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{12,}(?![0-9A-Za-z])"
AGE = r"\d+(?:ms|s|m|h|d)(?:\d+(?:s|m|h))?"
AGO = r"\d+ (?:second|minute|hour|day)s? ago"
# The shape a named varying value stands for, by what it looks like.
SHAPES = [
    (re.compile(r"\d{1,3}(?:\.\d{1,3}){3}/\d+"), r"\d{1,3}(?:\.\d{1,3}){3}/\d+"),  # an IPv4 address/prefix
    (re.compile(r"\d{1,3}(?:\.\d{1,3}){3}"), r"\d{1,3}(?:\.\d{1,3}){3}"),  # an IPv4 address
    (re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"), r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"),  # a MAC address
    (re.compile(r"[0-9a-f]*:[0-9a-f:]+"), r"[0-9a-f:]+"),  # an IPv6 address
    (re.compile(r"\d+"), r"\d+"),  # a number: a port, a pid, a count
    (re.compile(AGE), AGE),
    (re.compile(r"[0-9a-f]+"), r"[0-9a-f]+"),  # hex
]


@dataclass
class Step:
    command: str
    expected: list = field(default_factory=list)


def parse_block(text: str) -> list:
    steps = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif steps:
            steps[-1].expected.append(line)
    return steps


def _shape(value: str) -> str:
    for pattern, regex in SHAPES:
        if pattern.fullmatch(value):
            return regex
    return r"[A-Za-z0-9][-A-Za-z0-9_.]*"  # a name


def _bounded(value: str) -> str:
    """``value`` as a regex that matches only a whole value: a number not
    inside a longer number or address, a name not inside a longer name."""
    before = r"(?<!\d)(?<!\d\.)" if value[:1].isdigit() else r"(?<![\w-])"
    after = r"(?!\d|\.\d)" if value[-1:].isdigit() else r"(?![\w-])"
    return before + re.escape(value) + after


@functools.lru_cache(maxsize=4096)
def line_pattern(line: str, varies=()) -> tuple:
    """(the regex an expected line stands for, {group: named value}):
    literal but for white space, ids, ages and the ``varies`` values (each
    matching its shape, in a group of its own)."""
    named = sorted({v for v in varies if v}, key=len, reverse=True)
    alternatives = [f"(?P<named{i}>{_bounded(v)})" for i, v in enumerate(named)]
    # ids first: a named "4" must not take the first digit of an id
    token = re.compile("|".join([f"(?P<id>{ID})"] + alternatives + [f"(?P<ago>{AGO})", f"(?P<age>\\b{AGE}\\b)",
                                                                     r"(?P<space>\s+)"]))
    out, pos, groups = [], 0, {}
    text = line.strip()
    for m in token.finditer(text):
        out.append(re.escape(text[pos:m.start()]))
        kind = m.lastgroup
        if kind.startswith("named"):
            group = f"v{len(groups)}"
            groups[group] = m.group()
            out.append(f"(?P<{group}>{_shape(m.group())})")
        elif kind == "id":
            out.append(ID)
        elif kind == "ago":
            out.append(AGO)
        elif kind == "age":
            out.append(AGE)
        else:
            out.append(r"\s+")
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return re.compile("".join(out)), groups


def matches(expected: list, actual: list, varies=(), bound=None) -> tuple:
    """(True, None) if ``actual`` is ``expected`` line by line (blank lines
    aside; `...` skips any number of lines), each named varying value
    standing for one same actual value wherever it appears (``bound``: what
    they stood for in the block's earlier steps, updated); else (False, the
    first expected line that failed, or the first extra line of output)."""
    exp = [e for e in expected if e.strip()]
    act = [a.strip() for a in actual if a.strip()]
    bound = {} if bound is None else bound

    def line_ok(i, j, values):
        pattern, groups = line_pattern(exp[i], tuple(varies))
        m = pattern.fullmatch(act[j])
        if not m:
            return False
        for group, value in groups.items():
            if values.setdefault(value, m.group(group)) != m.group(group):
                return False  # the doc shows the same value twice: the output must too
        return True

    def match(i, j, values):  # (the first failure of exp[i:] against act[j:] or None, the values bound)
        while i < len(exp):
            if exp[i].strip() == "...":  # any number of lines: the first way the rest matches
                if i + 1 == len(exp):
                    return None, values
                tries = [match(i + 1, k, dict(values)) for k in range(j, len(act) + 1)]
                return next((t for t in tries if t[0] is None), tries[0])
            if j == len(act) or not line_ok(i, j, values):
                return exp[i], values
            i, j = i + 1, j + 1
        return (None if j == len(act) else f"(extra output) {act[j]}"), values

    failed, values = match(0, 0, dict(bound))
    if failed is None:
        bound.update(values)
    return failed is None, failed


def run_command(command: str, env=None, translate=lambda s: s) -> tuple:
    """(exit status, stdout and stderr as one text) of ``command`` in bash."""
    proc = subprocess.run(["bash", "-c", translate(command)], capture_output=True, text=True,
                          env=env, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


# What the machine adds under a command's output whatever the doc does:
# iptables-nft warns whenever the kernel has a legacy table, and one that
# something made (an empty nat table, after the real Kubernetes components
# of the cluster tests) stays until its module is unloaded. A reader's
# fresh machine does not print it, and it is not minipod's output.
MACHINE_NOISE = r"^# Warning: iptables-legacy tables present, use iptables-legacy(-save)? to see them$"


def check(path, env=None, translate=lambda s: s, noise=MACHINE_NOISE) -> list:
    """Run every block of ``path``; return a list of mismatch descriptions.
    ``noise``: a regex of output lines left out before comparing."""
    text = open(path).read()
    failures = []
    blocks = list(BLOCK_RE.finditer(text))
    # Known before anything runs: a command that times out half-way still
    # leaves the doc's own clean-up to run (its "external host" and the like).
    cleanups = [parse_block(m.group("body")) for m in blocks if m.group("cleanup")]
    try:
        for match in blocks:
            if match.group("cleanup"):
                continue
            varies = translate(match.group("varies") or "").replace(",", " ").split()
            bound = {}  # what each varying value stood for in this block so far
            for step in parse_block(match.group("body")):
                code, out = run_command(step.command, env, translate)
                expected = [translate(e) for e in step.expected]
                lines = [l for l in out.splitlines() if not (noise and re.search(noise, l))]
                ok, line = matches(expected, lines, varies, bound)
                if code != 0 or not ok:
                    why = f"exited {code}" if code != 0 else f"expected line: {line!r}"
                    failures.append(f"$ {step.command}\n  {why}\n  actual output:\n{out}")
    finally:
        for steps in cleanups:
            for step in steps:
                run_command(step.command, env, translate)
    return failures


def update(path) -> None:
    """Rewrite each command's output with what it prints now."""
    text = open(path).read()

    def render(match):
        steps = parse_block(match.group("body"))
        lines = []
        for step in steps:
            out = run_command(step.command)[1] if not match.group("cleanup") else ""
            lines.append(f"$ {step.command}")
            lines.extend(l.rstrip() for l in out.splitlines() if not re.search(MACHINE_NOISE, l))
        varies = f"<!-- varies: {match.group('varies')} -->\n" if match.group("varies") else ""
        return varies + f"```console{match.group('cleanup') or ''}\n" + "\n".join(lines) + "\n```\n"

    try:
        new = BLOCK_RE.sub(render, text)
    finally:
        for match in BLOCK_RE.finditer(text):
            if match.group("cleanup"):
                for step in parse_block(match.group("body")):
                    run_command(step.command)
    open(path, "w").write(new)


if __name__ == "__main__":
    if sys.argv[1] == "--update":
        for p in sys.argv[2:]:
            update(p)
    else:
        problems = [f for p in sys.argv[1:] for f in check(p)]
        print("\n".join(problems) or "ok")
        sys.exit(1 if problems else 0)
