"""Cluster DNS in kube-dns's role, served by a real DNS server: dnsmasq,
listening on the service range's tenth address (10.96.0.10 by default).

It answers <service>.<namespace>.svc.cluster.local (A: the ClusterIP; a
headless service: its ready pods' IPs), SRV records
_<port>._<proto>.<service>.<namespace>.svc.cluster.local for named ports,
NXDOMAIN for any other cluster.local name, and forwards every other name to
the host's resolvers. The agent keeps it in step: the records live in
dnsmasq's configuration (read as root at start, before dnsmasq drops to
nobody), so a change restarts it (a few milliseconds).

It runs while Pod objects or Services exist (pods made from Pod objects get
it in their resolv.conf) and stops when neither is left.
"""

import os
import time

from minipod import daemons, hostcmd, paths
from minipod.errors import MinipodError
from minipod.objects import kinds, services as svcmod, store
from minipod.roles.proxy import host

DOMAIN = "cluster.local"


def directory():
    return paths.run_root() / "dns"


def conf_path(d=None):
    return (d or directory()) / "dnsmasq.conf"


def pid_path(d=None):
    """Where dnsmasq writes its own pid (--pid-file)."""
    return (d or directory()) / "dnsmasq.pid"


def process(d=None) -> daemons.Process:
    """dnsmasq as minipod's one process supervisor knows it: adopted from
    the pid it writes once it has daemonized, recorded with its start time."""
    return daemons.Process("dnsmasq", lambda: (d or directory()) / "dnsmasq.json")


def host_resolvers(text: str) -> list:
    """Nameservers of the host's resolv.conf (dnsmasq runs on the host, so
    a loopback stub such as 127.0.0.53 is reachable for it)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


def render(services: list, endpoints: dict, listen: str, resolvers: list) -> str:
    """dnsmasq's configuration for ``services`` (pure)."""
    lines = ["# written by minipod's agent: cluster DNS", "no-resolv", "no-hosts", "bind-interfaces",
             f"listen-address={listen}", "port=53", f"local=/{DOMAIN}/", "domain-needed", "cache-size=1000"]
    lines += [f"server={r}" for r in resolvers]
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        meta, spec = svc["metadata"], svc["spec"]
        name = f"{meta['name']}.{meta['namespace']}.svc.{DOMAIN}"
        if spec.get("clusterIP") == "None":
            ep = endpoints.get((meta["namespace"], meta["name"])) or {}
            ips = sorted({a["ip"] for s in ep.get("subsets", []) for a in s.get("addresses", [])})
            lines += [f"address=/{name}/{ip}" for ip in ips]
        elif spec.get("clusterIP"):
            lines.append(f"host-record={name},{spec['clusterIP']}")
        for port in spec.get("ports", []):
            if port.get("name"):
                proto = port.get("protocol", "TCP").lower()
                lines.append(f"srv-host=_{port['name']}._{proto}.{name},{name},{port['port']}")
    return "\n".join(lines) + "\n"


def resolv_conf(namespace: str) -> str:
    """What a pod of ``namespace`` gets (dnsPolicy ClusterFirst)."""
    return (f"search {namespace}.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}\n"
            f"nameserver {svcmod.dns_ip()}\noptions ndots:5\n")


def running_pid(d=None):
    """dnsmasq's pid while the one this root (or directory ``d``) started runs, else None."""
    info = process(d).running() or _unrecorded(d)
    return info["pid"] if info else None


def _unrecorded(d=None):
    """A dnsmasq that a minipod from before its one supervisor started (it
    only wrote dnsmasq's own pidfile): adopted when that pid is a dnsmasq
    of this configuration, so that an update stops it instead of starting
    a second one that cannot bind."""
    try:
        pid = int(pid_path(d).read_text())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
    except (OSError, ValueError):
        return None
    if f"--conf-file={conf_path(d)}" not in argv or process(d).pid_path().exists():
        return None
    return process(d).adopt(pid, argv)


def _stop_process(d=None) -> None:
    process(d).stop(timeout=5.0)
    pid_path(d).unlink(missing_ok=True)


def _reported_pid(d, timeout: float = 5.0) -> int:
    """The pid dnsmasq wrote to --pid-file (its daemon's, written as it detaches)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(pid_path(d).read_text())
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise MinipodError(f"dnsmasq started but wrote no pid to {pid_path(d)}") from None
            time.sleep(0.01)


def serve(text: str, d=None) -> bool:
    """Run dnsmasq with the configuration ``text`` (in ``d``, else this
    root's DNS directory), restarting it when the text changed; True if it
    (re)started. The records live in its configuration: dnsmasq reads it as
    root at start, before it drops to nobody."""
    current = conf_path(d).read_text() if conf_path(d).exists() else None
    if text == current and running_pid(d):
        return False
    (d or directory()).mkdir(parents=True, exist_ok=True)
    _stop_process(d)
    tmp = conf_path(d).with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, conf_path(d))
    pid_path(d).unlink(missing_ok=True)
    argv = ["dnsmasq", f"--conf-file={conf_path(d)}", f"--pid-file={pid_path(d)}"]
    try:  # it forks its daemon and exits; one that hangs is killed, and the agent's next pass tries again
        proc = hostcmd.run(argv, timeout=hostcmd.command_timeout(), text=True)
    except hostcmd.Timeout as e:
        raise MinipodError(f"dnsmasq did not start: {e}") from None
    if proc.returncode != 0:
        raise MinipodError(f"dnsmasq did not start: {' '.join(proc.stderr.split())}")
    process(d).adopt(_reported_pid(d), argv)
    return True


def resolvers() -> list:
    """The host's own resolvers (from its /etc/resolv.conf)."""
    try:
        with open("/etc/resolv.conf") as f:
            return host_resolvers(f.read())
    except OSError:
        return []


def needed() -> bool:
    return store.any_objects(kinds.SERVICE) or store.any_objects(kinds.POD)


def sync(log=None) -> bool:
    """Start, restart or stop dnsmasq to match the objects; True if it acted."""
    if not needed():
        if running_pid() or conf_path().exists():
            stop()
            if not store.any_objects(kinds.SERVICE):
                host.remove_routes()
            return True
        return False
    services = store.list_objects(kinds.SERVICE, shared=True)
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e
                 for e in store.list_objects(kinds.ENDPOINTS, shared=True)}
    listen = svcmod.dns_ip()
    text = render(services, endpoints, listen, resolvers())
    current = conf_path().read_text() if conf_path().exists() else None
    if text == current and running_pid():
        return False
    host.ensure_routes([svcmod.service_cidr(), svcmod.lb_pool()])
    host.run(["ip", "addr", "replace", f"{listen}/32", "dev", host.device()])
    serve(text)
    if log:
        log(f"cluster DNS: dnsmasq on {listen}:53 with {len(services)} services")
    return True


def stop(d=None) -> None:
    """dnsmasq and its configuration go (the address goes with the device);
    ``d``: the one serve() runs in that directory (a cluster's)."""
    _stop_process(d)
    conf_path(d).unlink(missing_ok=True)
    if d is None and host.has_device():
        host.run(["ip", "addr", "del", f"{svcmod.dns_ip()}/32", "dev", host.device()], check=False)
