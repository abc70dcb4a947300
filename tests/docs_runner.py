"""Run the shell sessions in a markdown document and compare their output.

A ```console block holds commands (lines starting with "$ ") each followed
by its expected output. Checking is loose where output varies by nature:
every run of hex digits holding a decimal digit (ids, pids, IPs, MACs,
times) matches any such run, a unit of time (1 second, 3 minutes ago) any
unit, and the expected lines need only appear in order among the actual
lines. A
```console cleanup block always runs at the end, even after a failure.

    python -m tests.docs_runner --update docs/pause.md   # rewrite outputs from a real run
    python -m tests.docs_runner docs/pause.md            # check
"""

import re
import subprocess
import sys
from dataclasses import dataclass, field

BLOCK_RE = re.compile(r"^```console( cleanup)?\n(.*?)^```\n", re.S | re.M)


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


def _loose(line: str) -> re.Pattern:
    out = []
    # Any run of hex digits that holds a decimal digit (ids, pids, addresses,
    # MACs, times) matches any such run.
    for token in re.split(r"([0-9a-f]*\d[0-9a-f]*|\s+)", line.strip()):
        if not token:
            continue
        if re.fullmatch(r"[0-9a-f]*\d[0-9a-f]*", token):
            out.append(r"[0-9a-f]+")
        elif re.fullmatch(r"(second|minute|hour|day)s?", token):
            out.append(r"(?:second|minute|hour|day)s?")
        elif token.isspace():
            out.append(r"\s+")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out))


def matches(expected: list, actual: list) -> tuple:
    """(True, None) if every expected line matches an actual line, in order."""
    i = 0
    actual = [a.strip() for a in actual]  # column alignment varies with widths
    for exp in expected:
        if not exp.strip() or exp.strip() == "...":
            continue
        pattern = _loose(exp)
        while i < len(actual) and not pattern.fullmatch(actual[i]):
            i += 1
        if i == len(actual):
            return False, exp
        i += 1
    return True, None


def run_command(command: str, env=None, translate=lambda s: s) -> str:
    proc = subprocess.run(["bash", "-c", translate(command)], capture_output=True, text=True,
                          env=env, timeout=120)
    return proc.stdout + proc.stderr


def check(path, env=None, translate=lambda s: s) -> list:
    """Run every block of ``path``; return a list of mismatch descriptions."""
    text = open(path).read()
    failures = []
    blocks = list(BLOCK_RE.finditer(text))
    # Known before anything runs: a command that times out half-way still
    # leaves the doc's own clean-up to run (its "external host" and the like).
    cleanups = [parse_block(m.group(2)) for m in blocks if m.group(1)]
    try:
        for match in blocks:
            if match.group(1):
                continue
            for step in parse_block(match.group(2)):
                out = run_command(step.command, env, translate)
                expected = [translate(e) for e in step.expected]
                ok, line = matches(expected, out.splitlines())
                if not ok:
                    failures.append(f"$ {step.command}\n  expected line: {line!r}\n  actual output:\n{out}")
    finally:
        for steps in cleanups:
            for step in steps:
                run_command(step.command, env, translate)
    return failures


def update(path) -> None:
    """Rewrite each command's output with what it prints now."""
    text = open(path).read()

    def render(match):
        steps = parse_block(match.group(2))
        lines = []
        for step in steps:
            out = run_command(step.command) if not match.group(1) else ""
            lines.append(f"$ {step.command}")
            lines.extend(l.rstrip() for l in out.splitlines())
        return f"```console{match.group(1) or ''}\n" + "\n".join(lines) + "\n```\n"

    try:
        new = BLOCK_RE.sub(render, text)
    finally:
        for match in BLOCK_RE.finditer(text):
            if match.group(1):
                for step in parse_block(match.group(2)):
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
