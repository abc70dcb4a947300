"""kubectl describe of a custom resource, as kubectl's generic describer
writes it (kubectl/pkg/describe: genericDescriber, printUnstructuredContent,
smartLabelFor): name, namespace, labels and annotations, then every other
field sorted, nested by two spaces, labels made of the field's camel-case
words ("lastTransitionTime" -> "Last Transition Time"); then the object's
Events. The text goes through a port of Go's text/tabwriter with
kubectl's settings (padding 2), so that columns align where kubectl's do:
minipod's describe and kubectl's are the same text."""

import re

from minipod.printers import docker

SKIPPED = (".metadata.managedFields", ".metadata.name", ".metadata.namespace", ".metadata.labels",
           ".metadata.annotations")
ACRONYMS = ("API", "URL", "UID", "OSB", "GUID")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_ANNOTATION = 140


def describe(obj: dict, events: list) -> str:
    """The describe text of ``obj``; ``events``: its Events as
    describe.events_lines takes them."""
    meta = obj["metadata"]
    out = [f"Name:\t{meta['name']}", f"Namespace:\t{meta.get('namespace', '')}"]
    out += _multiline("Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    annotations = [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items()) if k != LAST_APPLIED]
    out += _multiline("Annotations", [a if len(a) <= MAX_ANNOTATION else a[:MAX_ANNOTATION] + "..."
                                      for a in annotations])
    out += _content(obj, 0, "")
    if not events:
        return tabwriter([line + "\n" for line in out + ["Events:\t<none>"]])
    # DescribeEvents flushes the writer first: the table aligns on its own
    rows = [f"  {kind}\t{reason}\t{'-' if when is None else docker.event_age(*when)}\t{source}\t{message.strip()}"
            for kind, reason, when, source, message in events]
    return tabwriter([line + "\n" for line in out]) + \
        tabwriter([line + "\n" for line in ["Events:", "  Type\tReason\tAge\tFrom\tMessage",
                                              "  ----\t------\t----\t----\t-------"] + rows])


def _multiline(title: str, items: list) -> list:
    if not items:
        return [f"{title}:\t<none>"]
    return [f"{title}:\t{items[0]}"] + [f"\t{i}" for i in items[1:]]


def _content(content: dict, level: int, prefix: str) -> list:
    """printUnstructuredContent: fields sorted; maps and lists nest one
    level; a list's maps follow one another with no separator."""
    out = []
    indent = "  " * level
    for field in sorted(content):
        value = content[field]
        path = f"{prefix}.{field}"
        if path in SKIPPED:
            continue
        if isinstance(value, dict):
            out.append(f"{indent}{smart_label(field)}:")
            out += _content(value, level + 1, path)
        elif isinstance(value, list):
            out.append(f"{indent}{smart_label(field)}:")
            for child in value:
                if isinstance(child, dict):
                    out += _content(child, level + 1, path)
                else:
                    out.append(f"{indent}  {_go_value(child)}")
        else:
            out.append(f"{indent}{smart_label(field)}:\t{_go_value(value)}")
    return out


def _go_value(value) -> str:
    """Go's %v of a JSON value as the dynamic client decodes it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^A-Za-z0-9]+")


def smart_label(field: str) -> str:
    """kubectl's smartLabelFor: a field name of letters and '-' as title-case
    words ("apiVersion" -> "API Version"); anything else as it is."""
    if any(not (c.isalpha() or c == "-") for c in field):
        return field
    words = []
    for part in _camel_split(field):
        if part == "_":
            continue
        words.append(part.upper() if part.upper() in ACRONYMS else part[:1].upper() + part[1:])
    return " ".join(words)


def _camel_split(text: str) -> list:
    """github.com/fatih/camelcase's Split: runs of lower-case, upper-case,
    digits and other characters; an upper-case run followed by lower case
    gives its last letter to the next word ("HTTPRoute" -> HTTP, Route)."""
    runs, kinds = [], []
    for c in text:
        kind = "l" if c.islower() else "u" if c.isupper() else "d" if c.isdigit() else "o"
        if kinds and kinds[-1] == kind:
            runs[-1] += c
        else:
            runs.append(c)
            kinds.append(kind)
    for i in range(len(runs) - 1):
        if kinds[i] == "u" and kinds[i + 1] == "l":
            runs[i + 1] = runs[i][-1] + runs[i + 1]
            runs[i] = runs[i][:-1]
    return [r for r in runs if r]


def tabwriter(lines: list, padding: int = 2) -> str:
    """Go's text/tabwriter (minwidth 0, padchar ' ', no flags) over
    ``lines`` (each ending in a newline): a tab ends a cell; the cells of
    one column align across the consecutive lines that have that column;
    a line's last cell is not aligned."""
    cells = [line.rstrip("\n").split("\t") for line in lines]
    out = []
    _format(cells, 0, len(cells), [], out, padding)
    return "".join(out)


def _format(cells: list, line0: int, line1: int, widths: list, out: list, padding: int) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(cells[this]) - 1:
            this += 1
            continue
        _write(cells, line0, this, widths, out)  # the lines before this column's block
        line0 = this
        width = 0
        while this < line1 and column < len(cells[this]) - 1:
            width = max(width, len(cells[this][column]) + padding)
            this += 1
        _format(cells, line0, this, widths + [width], out, padding)
        line0 = this
    _write(cells, line0, line1, widths, out)


def _write(cells: list, line0: int, line1: int, widths: list, out: list) -> None:
    for line in cells[line0:line1]:
        for j, cell in enumerate(line):
            out.append(cell.ljust(widths[j]) if j < len(widths) and j < len(line) - 1 else cell)
        out.append("\n")
