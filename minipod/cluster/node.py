"""`minipod cluster join`: this machine as a node of a cluster, its pods
run by minipod. Actions in order, each reported as it ends:

  discovery         the cluster's CA from kube-public/cluster-info, trusted
                    only if its public key has the hash given (kubeadm's pin)
  kubelet credentials  a bootstrap kubeconfig with the token
  container runtime minipod's CRI server (the kubelet's --container-runtime-endpoint)
  node network      the Service range routed to a device that drops what
                    no rule catches (no virtual IP ever leaves the node),
                    and br_netfilter
  kubelet           registers the node with a client certificate it asks
                    the API for; Ready once the runtime and network are:
                    the CRI server writes the node's pod network (bridge
                    cni0, flannel's name) on the range the controller-manager
                    gives the Node, when the kubelet passes it on
  pod network       routes to the other nodes' pod ranges, masquerade of what
                    leaves the cluster (netagent.py: host-gw or vxlan)
  kube-proxy        the real one, iptables mode, with the kubelet's credentials
  ingress controller  nginx as a static pod on the node's network, port 80,
                    kept in step with the cluster's Ingresses (ingress.py)
  network policies  kube-router's policy controller: this node's pods'
                    NetworkPolicy rules, from the cluster's objects (netpol.py)

The kubelet and kube-proxy change a few host sysctls as they do on every
node (vm.overcommit_memory, kernel.panic..., route_localnet): their values
before are kept and put back by `leave`."""

import ipaddress
import os
import socket
import subprocess
import time

from minipod import hostcmd
from minipod.cluster import (binary, config_dir, kubelet_client_cert, kubelet_dir, manifests_dir, netpol, pki,
                             port, processes, remove_files, save_settings, settings, tunables)
from minipod.cluster.client import Client
from minipod.errors import InvalidArgument, InvalidState, MinipodError

NODE_NETWORK = "cluster"  # the node's pod network, written by the CRI server on the Node's pod range
BACKENDS = ("host-gw", "vxlan")
POD_LOGS = "/var/log/pods"  # where kubelet 1.20 keeps its pods' logs, whatever its flags
SANDBOX_IMAGE = "k8s.gcr.io/pause:3.2"  # kubelet 1.20's; minipod's own pause stands for it (minipod.cri.images)


def bridge() -> str:
    """The node's pod bridge (MINIPOD_CLUSTER_BRIDGE; flannel's cni0)."""
    return os.environ.get("MINIPOD_CLUSTER_BRIDGE", "cni0")


def service_device() -> str:
    """The device the node routes the Service range to (kube-proxy's rules
    DNAT before it is reached; a packet no rule catches is dropped there)."""
    return os.environ.get("MINIPOD_CLUSTER_SERVICE_DEVICE", "kube-svc0")


def default_address() -> str:
    """The IPv4 address of the interface the default route goes through."""
    out = subprocess.run(["ip", "-4", "-o", "route", "show", "default"], capture_output=True, text=True).stdout.split()
    if "dev" not in out:
        raise InvalidArgument("this machine has no default route: say which address to use (--advertise-address)")
    dev = out[out.index("dev") + 1]
    addrs = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", dev], capture_output=True, text=True).stdout.split()
    return addrs[addrs.index("inet") + 1].split("/")[0]


def check_local_address(address: str, flag: str) -> None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise InvalidArgument(f"{flag} {address!r} is not an IP address") from None
    if ip.is_loopback or ip.version != 4:
        raise InvalidArgument(f"{flag} {address}: an IPv4 address of this machine other than loopback is needed "
                              "(the cluster reaches its nodes and API server by it)")
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    if f" {address}/" not in out:
        raise InvalidArgument(f"{flag} {address} is not an address of this machine")


# ------------------------------------------------------------------ join

def _discover(cfg) -> None:
    """cluster-info's CA, pinned by its hash; then the cluster's ranges over verified TLS."""
    import yaml
    anonymous = Client(cfg["server"], verify=False)
    info = anonymous.get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
    if info is None:
        raise MinipodError(f"{cfg['server']} has no kube-public/cluster-info: is it a cluster made by "
                           "`minipod cluster init`?")
    kubeconfig = yaml.safe_load(info["data"]["kubeconfig"])
    import base64
    ca_pem = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
    if cfg["ca_cert_hash"] is not None and pki.ca_cert_hash(ca_pem) != cfg["ca_cert_hash"]:
        raise MinipodError(f"the cluster's CA has hash {pki.ca_cert_hash(ca_pem)}, not {cfg['ca_cert_hash']}: "
                           "refusing to trust it")
    from minipod import certs
    certs.write_private(config_dir() / "ca.crt", ca_pem)
    verified = Client(cfg["server"], ca_file=str(config_dir() / "ca.crt"))
    network = verified.get("/api/v1/namespaces/kube-public/configmaps/minipod-cluster")
    if network is None:
        raise MinipodError("the cluster has no kube-public/minipod-cluster ConfigMap: it was not made by "
                           "`minipod cluster init`")
    cfg.update(service_cidr=network["data"]["serviceCIDR"], cluster_cidr=network["data"]["clusterCIDR"],
               dns_domain=network["data"]["dnsDomain"], dns_ip=network["data"].get("clusterDNS"))
    save_settings(cfg)


def _credentials(cfg) -> None:
    import yaml

    from minipod import certs
    ca = (config_dir() / "ca.crt").read_bytes()
    bootstrap = certs.kubeconfig("kubernetes", cfg["server"], ca, user="kubelet-bootstrap", token=cfg["token"])
    certs.write_private(config_dir() / "bootstrap-kubelet.kubeconfig",
                        yaml.safe_dump(bootstrap, sort_keys=False).encode())


def _runtime(cfg) -> None:
    from minipod import cri
    if cri.running():
        raise InvalidState("a CRI server runs already (`minipod cri stop`): the node's own is started with its "
                           "pod network")
    cri.ensure_running(env={"MINIPOD_DEFAULT_NETWORK": NODE_NETWORK, "MINIPOD_NODE_BRIDGE": bridge()})


def _network(cfg) -> None:
    from minipod.roles.proxy import host
    host.ensure_routes([ipaddress.ip_network(cfg["service_cidr"])], dev=service_device())
    host.enable_bridge_netfilter()


def _kubelet(cfg) -> None:
    from minipod import cri
    root = kubelet_dir()
    root.mkdir(parents=True, exist_ok=True)
    manifests_dir().mkdir(parents=True, exist_ok=True)
    if "tunables" not in cfg:  # what the kubelet and kube-proxy change, put back by leave() (cluster/tunables.py)
        cfg["tunables"] = tunables.hold(str(config_dir()))
    save_settings(cfg)
    processes.start("kubelet", [
        binary("kubelet"), "--container-runtime=remote", f"--container-runtime-endpoint={cri.endpoint()}",
        f"--bootstrap-kubeconfig={config_dir() / 'bootstrap-kubelet.kubeconfig'}",
        f"--kubeconfig={root / 'kubelet.kubeconfig'}", f"--cert-dir={root / 'pki'}", f"--root-dir={root / 'root'}",
        f"--volume-plugin-dir={root / 'volume-plugins'}", f"--client-ca-file={config_dir() / 'ca.crt'}",
        f"--pod-manifest-path={manifests_dir()}", "--file-check-frequency=2s",
        "--anonymous-auth=false", "--authorization-mode=Webhook", "--authentication-token-webhook=true",
        f"--hostname-override={cfg['node_name']}", f"--node-ip={cfg['node_ip']}",
        f"--port={port('kubelet')}", "--read-only-port=0", "--healthz-port=0",
        f"--cluster-domain={cfg['dns_domain']}", *([f"--cluster-dns={cfg['dns_ip']}"] if cfg.get("dns_ip") else []),
        "--cgroup-driver=cgroupfs", "--cgroups-per-qos=false", "--enforce-node-allocatable=",
        "--fail-swap-on=false", "--make-iptables-util-chains=false", "--rotate-certificates",
        f"--pod-infra-container-image={SANDBOX_IMAGE}", "--feature-gates=DevicePlugins=false",
        "--image-gc-high-threshold=100", "--eviction-hard=", *cfg.get("kubelet_flags", [])])
    client_cert = root / "pki" / "kubelet-client-current.pem"
    _wait(lambda: client_cert.exists(), 90, "the kubelet's client certificate (signed through the API)",
          "kubelet")
    client = Client(cfg["server"], ca_file=str(config_dir() / "ca.crt"), cert_file=str(client_cert))

    def ready():
        node = client.get(f"/api/v1/nodes/{cfg['node_name']}")
        return node and any(c["type"] == "Ready" and c["status"] == "True"
                            for c in node.get("status", {}).get("conditions", []))
    _wait(ready, 120, f"node {cfg['node_name']} to be Ready", "kubelet")


def _pod_network(cfg) -> None:
    processes.start_own("netagent", "minipod.cluster.netagent", "the node's network agent")


def _kube_proxy(cfg) -> None:
    import yaml

    from minipod import certs
    client_cert = kubelet_client_cert()
    kubeconfig = certs.kubeconfig("kubernetes", cfg["server"], (config_dir() / "ca.crt").read_bytes(),
                                  user=f"system:node:{cfg['node_name']}", cert_file=client_cert)
    path = config_dir() / "kube-proxy.kubeconfig"
    certs.write_private(path, yaml.safe_dump(kubeconfig, sort_keys=False).encode())
    processes.start("kube-proxy", [
        binary("kube-proxy"), f"--kubeconfig={path}", f"--hostname-override={cfg['node_name']}",
        f"--cluster-cidr={cfg['cluster_cidr']}", "--proxy-mode=iptables", "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
        f"--metrics-bind-address=127.0.0.1:{port('kube-proxy-metrics')}",
        f"--healthz-bind-address=127.0.0.1:{port('kube-proxy-healthz')}"])

    def healthy():
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port('kube-proxy-healthz')}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
    _wait(healthy, 60, "kube-proxy", "kube-proxy")


def _wait(predicate, timeout: float, what: str, component: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if not processes.running(component):
            raise MinipodError(f"{component} stopped: {processes.last_lines(component)} "
                               f"(log: {processes.log_path(component)})")
        time.sleep(0.3)
    raise MinipodError(f"timed out waiting for {what} (log: {processes.log_path(component)})")


def _ingress(cfg) -> None:
    """The node's ingress controller and its nginx (ingress.py)."""
    processes.start_own("ingress", "minipod.cluster.ingress", "the node's ingress controller")


def _stop_ingress() -> bool:
    from minipod.cluster import ingress
    stopped = processes.stop("ingress")
    ingress.manifest_path().unlink(missing_ok=True)  # also when it was killed: the kubelet must not restart nginx
    import shutil
    shutil.rmtree(ingress.directory(), ignore_errors=True)
    return stopped


ACTIONS = (("discovery", _discover), ("kubelet credentials", _credentials), ("container runtime", _runtime),
           ("node network", _network), ("kubelet", _kubelet), ("pod network", _pod_network),
           ("kube-proxy", _kube_proxy), ("ingress controller", _ingress), ("network policies", netpol.start))


def join(server: str, token: str, ca_cert_hash: str, node_name: str = None, node_ip: str = None,
         report=lambda text: None, extra: dict = None, backend: str = "host-gw") -> dict:
    """Make this machine a node of the cluster at ``server``; a failure undoes it.
    ``backend``: how pods reach other nodes' pods (host-gw routes, or vxlan)."""
    if backend not in BACKENDS:
        raise InvalidArgument(f"backend {backend!r}: one of {', '.join(BACKENDS)}")
    cfg = settings()
    if "node" in cfg.get("roles", []):
        raise InvalidState("this machine is already a node of a cluster (`minipod cluster down` first)")
    node_ip = node_ip or default_address()
    check_local_address(node_ip, "--node-ip")
    node_name = (node_name or socket.gethostname()).lower()
    if not node_name.replace("-", "").replace(".", "").isalnum():
        raise InvalidArgument(f"node name {node_name!r}: lower-case letters, digits, '-' and '.' only")
    if ca_cert_hash is not None and not ca_cert_hash.startswith("sha256:"):
        raise InvalidArgument("--ca-cert-hash must be sha256:<hex> (as `minipod cluster token` prints it)")
    for component in ("kubelet", "kube-proxy"):
        binary(component)
    from minipod import image
    from minipod.roles.ingress import controller
    image.load(controller.IMAGE)  # every node runs the ingress controller's nginx (scripts/setup imports it)
    if _kube_chains():
        raise InvalidState("iptables already has KUBE-* chains (another kube-proxy, or minipod's own Services "
                           "with MINIPOD_CHAIN_PREFIX=KUBE): a node's kube-proxy must own them alone")
    before = dict(cfg)
    cfg["made_log_root"] = not os.path.exists(POD_LOGS)
    cfg.update(roles=cfg.get("roles", []) + ["node"], server=server, token=token, ca_cert_hash=ca_cert_hash,
               node_name=node_name, node_ip=node_ip, backend=backend, **(extra or {}))
    save_settings(cfg)
    try:
        for title, action in ACTIONS:
            action(cfg)
            report(title)
    except BaseException:
        if "control-plane" not in cfg["roles"]:
            from minipod.cluster.teardown import Steps
            steps = Steps(report)
            leave(steps)  # each failure is said (report); the join's own error is the one raised
        if before:
            save_settings(before)  # the control plane's settings, as they were
        else:
            remove_files()  # a machine that was in no cluster is in none again: the join can be tried anew
        raise
    return cfg


# ------------------------------------------------------------------ leave

def leave(steps) -> None:
    """Stop this node's kube-proxy (its rules removed) and kubelet, remove
    the pods the kubelet made, stop the CRI server, put the host back: each
    step in ``steps`` (a teardown.Steps), which goes on past one that fails."""
    import shutil
    from minipod import cri
    from minipod.cni import network
    from minipod.roles.proxy import host
    cfg = settings()
    steps.run("stop the policy controller", netpol.stop, done="stopped the policy controller")
    steps.run("stop the ingress controller", _stop_ingress, done="stopped the ingress controller")
    steps.run("stop kube-proxy", processes.stop, "kube-proxy", done="stopped kube-proxy")
    steps.run("stop the pod network's agent", processes.stop, "netagent", done="stopped the pod network's agent")
    if os.path.exists(config_dir() / "kube-proxy.kubeconfig"):  # its rules go with `kube-proxy --cleanup`
        steps.run("run kube-proxy --cleanup", lambda: hostcmd.run([binary("kube-proxy"), "--cleanup"], timeout=60))
    steps.run("stop kubelet", processes.stop, "kubelet", done="stopped kubelet")
    # what --cleanup leaves: its canaries, and KUBE-MARK-DROP/MASQ (1.20 makes them too)
    steps.run("remove kube-proxy's chains", _remove_kube_chains)
    removed = steps.run("remove the kubelet's pods", _remove_sandboxes)
    if removed:
        steps.report(f"removed {removed} pod(s)")
    steps.run("stop the CRI server", cri.stop, done="stopped the CRI server")
    if network.find(NODE_NETWORK) is not None:
        steps.run(f"remove the network {NODE_NETWORK}", network.remove, NODE_NETWORK, [])
    steps.run("remove the Service routes", lambda: host.remove_routes(dev=service_device()))
    steps.run(f"unmount what is below {kubelet_dir()}", _unmount_below, kubelet_dir())
    shutil.rmtree(kubelet_dir(), ignore_errors=True)
    if "tunables" in cfg:
        steps.run("put the kernel settings back", tunables.release, str(config_dir()), cfg["tunables"])
    steps.run("remove the pods' logs", _remove_pod_logs, cfg.get("made_log_root"))


def _remove_pod_logs(made_root: bool) -> None:
    """The log directories of every pod the kubelet ran here (the CRI
    server noted them: the kubelet removes those of deleted pods only in a
    later garbage collection), then /var/log/pods if the kubelet made it
    and nothing else is in it now."""
    import shutil
    from minipod import cri
    for directory in cri.noted_log_directories():
        if os.path.dirname(os.path.normpath(directory)) == POD_LOGS:  # the kubelet's shape; nothing else
            shutil.rmtree(directory, ignore_errors=True)
    cri.log_directories_path().unlink(missing_ok=True)
    if made_root:
        try:
            os.rmdir(POD_LOGS)
        except OSError:
            pass


def _kube_chains() -> list:
    """(table, chain) of every KUBE-* chain in the host's iptables."""
    out = []
    for table in ("nat", "filter", "mangle"):
        text = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        out += [(table, line[1:].split()[0]) for line in text.splitlines() if line.startswith(":KUBE-")]
    return out


def _remove_kube_chains() -> None:
    """Flush every KUBE-* chain, then delete them (rules jumping to one go with the flush of their own chain;
    the built-in chains' jumps are kube-proxy's --cleanup's)."""
    chains = _kube_chains()
    for table, chain in chains:
        subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True)
    for table, chain in chains:
        subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True)


def _remove_sandboxes() -> int:
    """The kubelet's pods (its sandboxes in minipod), with their containers,
    network and the logs the kubelet kept of them in /var/log/pods."""
    import shutil

    from minipod.core import pod, removal
    from minipod.cri import sandboxes
    count = 0
    for rec in pod.store().all():
        if not sandboxes.is_sandbox(rec):
            continue
        removal.remove_pod(rec["id"], force=True, timeout=0)
        meta = rec["cri"]["metadata"]
        shutil.rmtree(f"{POD_LOGS}/{meta['namespace']}_{meta['name']}_{meta['uid']}", ignore_errors=True)
        count += 1
    return count


def _unmount_below(top) -> None:
    """The kubelet mounts its pods' secret and projected volumes (tmpfs) in its root."""
    prefix = os.path.realpath(top) + "/"
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    for target in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def status() -> dict:
    cfg = settings()
    names = (("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "cluster-dns")
             if "control-plane" in cfg.get("roles", []) else ()) + \
        (("kubelet", "netagent", "kube-proxy", "ingress") if "node" in cfg.get("roles", []) else ())
    out = {"roles": cfg.get("roles", []), "server": cfg.get("server"), "node": cfg.get("node_name"),
           "components": {n: bool(processes.running(n)) for n in names}}
    if "node" in cfg.get("roles", []):
        from minipod import cri
        out["components"]["minipod cri"] = bool(cri.running())
    return out

