"""`minipod cluster init`: the control plane on this machine, then (unless
asked not to) this machine as its first node. Actions in order, each
reported as it ends:

  certificates        the CA and the components' certificates (pki.py)
  etcd                Debian's etcd, on 127.0.0.1
  kube-apiserver      RBAC and Node authorization, bootstrap tokens, the
                      kubelets' client certificate for exec and logs
  join objects        cluster-info, the bootstrap token and bindings (bootstrap.py)
  controller-manager  signs the kubelets' certificates, allocates each node a pod range
  scheduler
  cluster DNS         dnsmasq fed from the API, behind the Service kube-system/kube-dns (dns.py)
  node                node.join against this control plane

kind's extraArgs: MINIPOD_KUBE_APISERVER_ARGS, MINIPOD_KUBE_CONTROLLER_MANAGER_ARGS
and MINIPOD_KUBE_SCHEDULER_ARGS (space-separated flags) are added to each
component's command line, as the tests do to make node failures quick.

A failure undoes what was made (as kind deletes a cluster whose creation
failed) and says which action failed and why."""

import ipaddress

from minipod.cluster import (binary, bootstrap, config_dir, data_dir, etcd_binary, pki, pki_dir,
                             port, processes, remove_files, save_settings, settings)
from minipod.cluster.client import Client
from minipod.errors import InvalidArgument, InvalidState, MinipodError

CONTROL_PLANE = ("cluster-dns", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")  # stop order


def extra_args(component: str) -> list:
    """Flags the environment adds to a component (kind's extraArgs)."""
    import os
    return os.environ.get(f"MINIPOD_{component.upper().replace('-', '_')}_ARGS", "").split()


def server_url(address: str) -> str:
    return f"https://{address}:{port('apiserver')}"


def _check(address, service_cidr, cluster_cidr) -> None:
    """Refuse, before anything is made, what cannot work."""
    if settings():
        raise InvalidState("this machine already runs a cluster (`minipod cluster status`; "
                           "`minipod cluster down` takes it down)")
    for name, cidr in (("--service-cidr", service_cidr), ("--pod-cidr", cluster_cidr)):
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise InvalidArgument(f"{name} {cidr!r} is not a network (CIDR)") from None
    if ipaddress.ip_network(service_cidr).overlaps(ipaddress.ip_network(cluster_cidr)):
        raise InvalidArgument(f"--service-cidr {service_cidr} overlaps --pod-cidr {cluster_cidr}")
    from minipod.cluster import node
    node.check_local_address(address, "--advertise-address")
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        binary(component)
    etcd_binary()
    from minipod import apiserver
    own = apiserver.running()
    if own and int(own.get("port", 0)) == port("apiserver"):
        raise InvalidState(f"minipod's own API server listens on port {port('apiserver')}: the cluster's API is "
                           "kube-apiserver's (`minipod api stop` first)")


def _etcd(cfg) -> None:
    client, peer = port("etcd-client"), port("etcd-peer")
    info = processes.start("etcd", [
        etcd_binary(), "--name", "minipod", "--data-dir", str(data_dir() / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"minipod=http://127.0.0.1:{peer}", "--listen-metrics-urls", ""])
    _wait_http(f"http://127.0.0.1:{client}/health", "etcd", info)


def _apiserver(cfg) -> None:
    d = pki_dir()
    processes.start("kube-apiserver", [
        binary("kube-apiserver"), f"--advertise-address={cfg['address']}", f"--secure-port={port('apiserver')}",
        f"--etcd-servers=http://127.0.0.1:{port('etcd-client')}",
        f"--client-ca-file={d / 'ca.crt'}", f"--tls-cert-file={d / 'apiserver.crt'}",
        f"--tls-private-key-file={d / 'apiserver.key'}",
        f"--kubelet-client-certificate={d / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={d / 'apiserver-kubelet-client.key'}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--service-account-issuer=https://kubernetes.default.svc.{cfg['dns_domain']}",
        f"--service-account-key-file={d / 'sa.pub'}", f"--service-account-signing-key-file={d / 'sa.key'}",
        f"--service-cluster-ip-range={cfg['service_cidr']}", "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
        "--allow-privileged=true", "--insecure-port=0", "--profiling=false", *extra_args("kube-apiserver")])
    _admin_client(cfg).wait_ok("/readyz", 300, "kube-apiserver", alive=lambda: processes.running("kube-apiserver"))


def _join_objects(cfg) -> None:
    client = _admin_client(cfg)
    from minipod.cluster import dns
    network = {"serviceCIDR": cfg["service_cidr"], "clusterCIDR": cfg["cluster_cidr"],
               "dnsDomain": cfg["dns_domain"], "clusterDNS": dns.dns_ip(cfg["service_cidr"])}
    for path, obj in bootstrap.objects(cfg["server"], (pki_dir() / "ca.crt").read_bytes(), network):
        client.ensure(path, obj)
    client.ensure("/api/v1/namespaces/kube-system/secrets", bootstrap.token_secret(cfg["token"]))


def _controller_manager(cfg) -> None:
    d, kubeconfig = pki_dir(), config_dir() / "controller-manager.kubeconfig"
    processes.start("kube-controller-manager", [
        binary("kube-controller-manager"), f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1", f"--secure-port={port('controller-manager')}", "--port=0",
        f"--client-ca-file={d / 'ca.crt'}", f"--root-ca-file={d / 'ca.crt'}",
        f"--service-account-private-key-file={d / 'sa.key'}",
        f"--cluster-signing-cert-file={d / 'ca.crt'}", f"--cluster-signing-key-file={d / 'ca.key'}",
        "--use-service-account-credentials=true", "--controllers=*,bootstrapsigner,tokencleaner",
        "--leader-elect=false", "--cluster-name=kubernetes", "--allocate-node-cidrs=true",
        f"--cluster-cidr={cfg['cluster_cidr']}", "--node-cidr-mask-size=24",
        f"--service-cluster-ip-range={cfg['service_cidr']}", *extra_args("kube-controller-manager")])
    _wait_https(port("controller-manager"), "kube-controller-manager")


def _scheduler(cfg) -> None:
    kubeconfig = config_dir() / "scheduler.kubeconfig"
    processes.start("kube-scheduler", [
        binary("kube-scheduler"), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
        f"--secure-port={port('scheduler')}", "--port=0", "--leader-elect=false", *extra_args("kube-scheduler")])
    _wait_https(port("scheduler"), "kube-scheduler")


def _admin_client(cfg) -> Client:
    d = pki_dir()
    return Client(cfg["server"], ca_file=str(d / "ca.crt"), cert_file=str(d / "admin.crt"),
                  key_file=str(d / "admin.key"))


def _wait_http(url: str, name: str, info: dict) -> None:
    import time
    import urllib.request
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if not processes.running(name):
            break
        time.sleep(0.2)
    raise MinipodError(f"{name} did not start: {processes.last_lines(name)} (log: {processes.log_path(name)})")


def _wait_https(component_port: int, name: str) -> None:
    """The component's /healthz on its secure port (a certificate of its own making)."""
    client = Client(f"https://127.0.0.1:{component_port}", verify=False)
    try:
        client.wait_ok("/healthz", 180, name, alive=lambda: processes.running(name))
    except MinipodError:
        raise MinipodError(f"{name} did not start: {processes.last_lines(name)} "
                           f"(log: {processes.log_path(name)})") from None


def _cluster_dns(cfg) -> None:
    import sys

    from minipod.cluster import dns
    api = _admin_client(cfg)
    for path, obj in dns.objects(cfg["address"], cfg["service_cidr"]):
        api.ensure(path, obj)
    processes.start("cluster-dns", [sys.executable, "-m", "minipod.cluster.dns"])
    import time
    deadline = time.monotonic() + 30
    while not dns.clusterdns.running_pid(dns.directory()):
        if time.monotonic() > deadline or not processes.running("cluster-dns"):
            raise MinipodError(f"the cluster DNS did not start: {processes.last_lines('cluster-dns')} "
                               f"(log: {processes.log_path('cluster-dns')})")
        time.sleep(0.1)


ACTIONS = (("certificates", lambda cfg: (pki.ensure(cfg["address"], cfg["service_cidr"], cfg["dns_domain"]),
                                         pki.write_kubeconfigs(cfg["server"]))),
           ("etcd", _etcd), ("kube-apiserver", _apiserver), ("join objects", _join_objects),
           ("kube-controller-manager", _controller_manager), ("kube-scheduler", _scheduler),
           ("cluster DNS", _cluster_dns))


def init(address: str, service_cidr: str, cluster_cidr: str, dns_domain: str, node_name: str = None,
         node_ip: str = None, join_node: bool = True, report=lambda text: None, extra: dict = None,
         backend: str = "host-gw", token: str = None) -> dict:
    """Bring up the control plane (and this machine as a node); return the settings.
    ``token``: the bootstrap token nodes join with (kubeadm init --token), else a new one."""
    _check(address, service_cidr, cluster_cidr)
    if token is not None and not bootstrap.valid_token(token):
        raise InvalidArgument(f"token {token!r}: ID.SECRET, 6 and 16 characters of [a-z0-9]")
    cfg = {"roles": ["control-plane"], "address": address, "server": server_url(address),
           "service_cidr": service_cidr, "cluster_cidr": cluster_cidr, "dns_domain": dns_domain,
           "token": token or bootstrap.new_token(), **(extra or {})}
    save_settings(cfg)  # first: a failure from here on is undone by down(), which reads it
    try:
        for title, action in ACTIONS:
            action(cfg)
            report(title)
        if join_node:
            from minipod.cluster import node
            node.join(cfg["server"], cfg["token"], pki.ca_cert_hash((pki_dir() / "ca.crt").read_bytes()),
                      node_name=node_name, node_ip=node_ip or address, report=report, extra=extra, backend=backend)
        from minipod import kubeconfig
        path = kubeconfig.add_to_user(pki.user_kubeconfig(cfg["server"]))
        report(f'kubectl context "{pki.USER_CONTEXT}" in {path}')
    except BaseException:
        try:
            down()
        except MinipodError as e:  # the first failure is the one to say; this one is said beside it
            report(f"could not undo everything: {e}")
        raise
    return settings()


def join_command(cfg: dict) -> str:
    ca_hash = pki.ca_cert_hash((pki_dir() / "ca.crt").read_bytes())
    return f"minipod cluster join {cfg['server']} --token {cfg['token']} --ca-cert-hash {ca_hash}"


def down(report=lambda text: None, warn=None) -> None:
    """Take down what this machine runs of the cluster (its node first),
    and remove its data, certificates and kubeconfigs. Every step runs even
    when one before it failed; the cluster's files (which name what runs)
    are removed only when all did, so that `cluster down` can be run again."""
    from minipod.cluster.teardown import Steps
    cfg = settings()
    steps = Steps(report, warn)
    if "control-plane" in cfg.get("roles", []):
        from minipod import kubeconfig
        steps.run("remove the cluster from the user's kubeconfig",
                  lambda: kubeconfig.remove_from_user(pki.user_entries()))
    if "node" in cfg.get("roles", []):
        from minipod.cluster import node
        node.leave(steps)
    for name in CONTROL_PLANE:
        steps.run(f"stop {name}", processes.stop, name, done=f"stopped {name}")
    steps.finish(kept=f"the cluster's files are kept for another `minipod cluster down` ({config_dir()})")
    remove_files()
