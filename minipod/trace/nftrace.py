"""The kernel's own packet tracing for one flow: a table of minipod's
(`inet minipod-trace`) whose chains, hooked before conntrack and NAT
(priority -350), set `meta nftrace` on the tracer's packets only (matched
by the source port chosen for them, and the same port as destination for
the replies); `nft monitor trace` then reports every rule of every table
that each of those packets matched, with its verdict. The table goes when
the trace ends, also on an error or a SIGINT/SIGTERM (and `minipod gc`
removes one that a killed tracer left)."""

import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

TABLE = "minipod-trace"
LINE = re.compile(r"^trace id (?P<id>\w+) (?P<family>\w+) (?P<table>\S+) (?P<chain>\S+) (?P<kind>packet|rule|policy|"
                  r"verdict|unknown)(?::)? ?(?P<rest>.*)$")


@dataclass
class Step:
    """One line of the trace: a rule matched (its text and verdict), a
    chain's policy, or the packet as it entered a chain."""
    family: str
    table: str
    chain: str
    kind: str
    text: str
    verdict: str = ""


@dataclass
class Packet:
    """Everything the trace said about one packet (one trace id), in order."""
    id: str
    steps: list = field(default_factory=list)

    @property
    def first(self) -> str:
        """Its header as the kernel printed it when it was first seen."""
        return next((s.text for s in self.steps if s.kind == "packet"), "")

    def header(self, name: str):
        """A field of the packet line (iif, oif, ip saddr, tcp dport...), or None."""
        m = re.search(rf'(?:^| ){re.escape(name)} ("[^"]*"|\S+)', self.first)
        return m.group(1).strip('"') if m else None


def parse(lines) -> list:
    """[Packet] of `nft monitor trace` output lines (our own table's lines
    left out). The kernel may give packets of one flow the same trace id:
    a packet line with another IP id starts another packet."""
    packets, order, current = {}, [], {}
    for line in lines:
        m = LINE.match(line.strip())
        if not m or m.group("table") == TABLE:
            continue
        if m.group("kind") == "packet":
            ip_id = re.search(r"ip id (\d+)", m.group("rest"))
            current[m.group("id")] = ip_id.group(1) if ip_id else current.get(m.group("id"), "")
        text, verdict = m.group("rest").strip(), ""
        v = re.search(r"\(verdict ([^)]*)\)\s*$", text)
        if v:
            verdict, text = v.group(1), text[:v.start()].strip()
        if m.group("kind") == "policy":
            verdict, text = text, ""
        text = re.sub(r"counter packets \d+ bytes \d+ ?", "", text).strip()
        pid = f"{m.group('id')}/{current.get(m.group('id'), '')}"
        if pid not in packets:
            packets[pid] = Packet(pid)
            order.append(pid)
        packets[pid].steps.append(Step(m.group("family"), m.group("table"), m.group("chain"), m.group("kind"),
                                       text, verdict))
    return [packets[p] for p in order]


def flow_selectors(ports: list, proto: str) -> list:
    """The selectors of the tracer's own flows: from its source ports, and the replies to them."""
    match = ", ".join(str(p) for p in ports)
    return [f"{proto} sport {{ {match} }}", f"{proto} dport {{ {match} }}"]


def ruleset(selectors: list, ports: list = (), proto: str = "tcp") -> str:
    """The trace table: every packet one of ``selectors`` matches is traced,
    from the first hook on (priority -350, before conntrack); and, once
    conntrack has seen it (priority -160, before any NAT), every packet of
    a connection that started from one of ``ports``: a reply whose
    destination a masquerade changed is still the tracer's."""
    def chain(name, hook, priority, rules):
        body = "".join(f"    {r} meta nftrace set 1\n" for r in rules)
        return f"  chain {name} {{\n    type filter hook {hook} priority {priority};\n{body}  }}\n"
    text = f"table inet {TABLE} {{\n" + chain("pre", "prerouting", -350, selectors) + \
        chain("out", "output", -350, selectors)
    if ports:
        ct = [f"meta l4proto {proto} ct original proto-src {{ {', '.join(str(p) for p in ports)} }}"]
        text += chain("pre-ct", "prerouting", -160, ct) + chain("out-ct", "output", -160, ct)
    return text + "}\n"


def remove() -> None:
    subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True)


def present() -> bool:
    return subprocess.run(["nft", "list", "table", "inet", TABLE], capture_output=True).returncode == 0


class Tracer:
    """`with Tracer(selectors) as t: ...make the flows...`, then
    ``t.packets``. Run in the network namespace whose rules are to be seen."""

    def __init__(self, selectors: list, ports: list = (), proto: str = "tcp"):
        self.selectors, self.ports, self.proto = list(selectors), list(ports), proto
        self.packets = []
        self._monitor = None
        self._lines = []
        self._reader = None
        self._ready = threading.Event()

    def __enter__(self):
        # SIGTERM/SIGHUP end a CLI trace through __exit__; in a server's thread, signals are the server's
        main = threading.current_thread() is threading.main_thread()
        self._old = {s: signal.signal(s, _interrupted) for s in (signal.SIGTERM, signal.SIGHUP)} if main else {}
        try:
            marker = _free_udp_port(avoid=self.ports)
            self._monitor = subprocess.Popen(["nft", "monitor", "trace"], stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, text=True)
            self._reader = threading.Thread(target=self._read, args=(f"udp dport {marker}",), daemon=True)
            self._reader.start()
            rules = ruleset(self.selectors + [f"ip daddr 127.0.0.1 udp dport {marker}"], self.ports, self.proto)
            proc = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"nft: {proc.stderr.strip()}")
            self._wait_until_listening(marker)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _read(self, marker: str) -> None:
        for line in self._monitor.stdout:
            self._lines.append(line)
            if marker in line:
                self._ready.set()

    def _wait_until_listening(self, marker: int, timeout: float = 10.0) -> None:
        """Until the monitor reports a marker datagram of our own (to a
        closed port on loopback): from then on no event of the flows is
        missed (a fixed pause was too short on a loaded machine)."""
        import socket
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not self._ready.is_set():
                if time.monotonic() > deadline:
                    raise RuntimeError("nft monitor trace reported nothing: is the kernel's nftrace available?")
                s.sendto(b"minipod trace: ready?", ("127.0.0.1", marker))
                self._ready.wait(0.05)

    def __exit__(self, *exc):
        try:
            time.sleep(0.3)  # the last replies' events
            remove()
        finally:
            if self._monitor is not None:
                self._monitor.terminate()
                self._monitor.wait(timeout=5)
                if self._reader is not None:
                    self._reader.join(timeout=5)
                self.packets = parse(self._lines)
            for s, handler in self._old.items():
                signal.signal(s, handler)
        return False


def _free_udp_port(avoid=()) -> int:
    """A free UDP port on loopback, none of ``avoid`` (the flows' own)."""
    import socket
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


def _interrupted(signum, frame):
    raise SystemExit(128 + signum)  # the with-block's exit removes the trace table
