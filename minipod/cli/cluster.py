"""`minipod cluster init|join|token|status|down`: a real Kubernetes cluster
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler; the kubelet
and kube-proxy on each node) whose pods run on minipod (minipod.cluster)."""

import click


def _report(title):
    click.echo(f" ✓ {title}")


def _warn(title):
    click.echo(f" ✗ {title}", err=True)


def register(cli):
    """Add the cluster group to the top-level group."""

    @cli.group("cluster", context_settings={"help_option_names": ["-h", "--help"]})
    def cluster_group():
        """A real Kubernetes cluster whose nodes run their pods on minipod."""

    @cluster_group.command("init")
    @click.option("--advertise-address", metavar="IP", help="The API server's address (default: the address of "
                  "the default route's interface).")
    @click.option("--service-cidr", default="10.96.0.0/12", show_default=True, help="The Services' range.")
    @click.option("--pod-cidr", default="10.244.0.0/16", show_default=True,
                  help="The pods' range; each node gets a /24 of it.")
    @click.option("--dns-domain", default="cluster.local", show_default=True)
    @click.option("--node-name", help="This machine's node name (default: its host name).")
    @click.option("--control-plane-only", is_flag=True, help="Do not make this machine a node too.")
    @click.option("--backend", type=click.Choice(["host-gw", "vxlan"]), default="host-gw", show_default=True,
                  help="How pods reach other nodes' pods: routes via the nodes (host-gw) or a vxlan overlay.")
    @click.option("--token", help="The bootstrap token nodes join with (ID.SECRET, 6 and 16 of [a-z0-9]; "
                  "default: a new one), as kubeadm init --token.")
    def cluster_init(advertise_address, service_cidr, pod_cidr, dns_domain, node_name, control_plane_only, backend,
                     token):
        """Bring up the control plane here and make this machine its first node (kubeadm init, minikube start)."""
        from minipod.cluster import admin_kubeconfig, controlplane, node
        address = advertise_address or node.default_address()
        cfg = controlplane.init(address, service_cidr, pod_cidr, dns_domain, node_name=node_name,
                                join_node=not control_plane_only, report=_report, backend=backend, token=token)
        click.echo(f"\nThe cluster's API is {cfg['server']} (admin kubeconfig: {admin_kubeconfig()}).")
        click.echo(f"Other machines join with:\n  {controlplane.join_command(cfg)}")

    @cluster_group.command("join")
    @click.argument("server")
    @click.option("--token", required=True, help="A bootstrap token (`minipod cluster token` on the control plane).")
    @click.option("--ca-cert-hash", help="sha256:<hex> of the cluster CA's public key.")
    @click.option("--unsafe-skip-ca-verification", is_flag=True,
                  help="Trust the cluster's CA without its hash (kubeadm's --discovery-token-unsafe-skip-ca-"
                       "verification: only on a network you trust).")
    @click.option("--node-name", help="This machine's node name (default: its host name).")
    @click.option("--node-ip", metavar="IP", help="The address the cluster reaches this node by "
                  "(default: the address of the default route's interface).")
    @click.option("--backend", type=click.Choice(["host-gw", "vxlan"]), default="host-gw", show_default=True,
                  help="How pods reach other nodes' pods: routes via the nodes (host-gw) or a vxlan overlay.")
    def cluster_join(server, token, ca_cert_hash, unsafe_skip_ca_verification, node_name, node_ip, backend):
        """Make this machine a node of the cluster at SERVER (kubeadm join)."""
        from minipod.cluster import node
        from minipod.errors import InvalidArgument
        if bool(ca_cert_hash) == unsafe_skip_ca_verification:
            raise InvalidArgument("give --ca-cert-hash (`minipod cluster token` prints it) or, on a network you "
                                  "trust, --unsafe-skip-ca-verification")
        cfg = node.join(server, token, ca_cert_hash, node_name=node_name, node_ip=node_ip, report=_report,
                        backend=backend)
        click.echo(f"\nnode {cfg['node_name']} joined {server}")

    @cluster_group.command("token")
    def cluster_token():
        """Print the command other machines join with (kubeadm token create --print-join-command)."""
        from minipod.cluster import controlplane, settings
        from minipod.errors import InvalidState
        cfg = settings()
        if "control-plane" not in cfg.get("roles", []):
            raise InvalidState("this machine runs no control plane (`minipod cluster init`)")
        click.echo(controlplane.join_command(cfg))

    @cluster_group.command("status")
    def cluster_status():
        """What this machine runs of a cluster."""
        from minipod.cluster import node
        info = node.status()
        if not info["roles"]:
            click.echo("no cluster on this machine")
            return 3
        click.echo(f"{' and '.join(info['roles'])} of {info['server']}" +
                   (f", node {info['node']}" if info["node"] else ""))
        for name, up in info["components"].items():
            click.echo(f"  {name:24} {'running' if up else 'NOT running'}")
        return 0 if all(info["components"].values()) else 1

    @cluster_group.command("down")
    def cluster_down():
        """Take down what this machine runs of the cluster and remove its data (kubeadm reset)."""
        from minipod.cluster import controlplane
        controlplane.down(report=_report, warn=_warn)
        click.echo("done")
