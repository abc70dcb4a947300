"""podman's network verbs: network create, ls, inspect, show, rm."""

import click

from minipod.cni import network
from minipod.core import pod
from minipod.printers import docker
from minipod.cli.base import CONTEXT, cli, echo_json

@cli.group("network", context_settings=CONTEXT)
def network_group():
    """Manage CNI networks."""


@network_group.command("create")
@click.option("--subnet", required=True)
@click.option("--gateway")
@click.option("--bridge")
@click.argument("name")
def network_create(subnet, gateway, bridge, name):
    """Create a bridge network (bridge + host-local + portmap + firewall)."""
    conf = network.create(name, subnet, gateway, bridge)
    click.echo(conf["name"])


@network_group.command("ls")
def network_ls():
    """List networks."""
    click.echo(docker.table(docker.NETWORK_HEADERS, docker.network_rows([network.summary(c) for c in network.list_networks()])))


@network_group.command("inspect")
@click.argument("names", nargs=-1)
def network_inspect(names):
    """Show networks like `docker network inspect bridge`."""
    from minipod.views import topology
    echo_json([topology.inspect(network.load(n)) for n in (names or [network.default_name()])])


@network_group.command("show")
@click.option("--dot", is_flag=True, help="Emit Graphviz DOT instead of text.")
@click.argument("name", required=False)
def network_show(dot, name):
    """Draw the host, bridge, veths, pods and ports (on a cluster node, its pod network and its routes to the
    other nodes' pods)."""
    from minipod.views import topology
    if name is None:
        from minipod.cluster import node as cluster_node
        name = cluster_node.NODE_NETWORK if network.find(cluster_node.NODE_NETWORK) else network.default_name()
    conf = network.load(name)
    click.echo(topology.dot(conf) if dot else topology.text(conf))


@network_group.command("rm")
@click.argument("names", nargs=-1, required=True)
def network_rm(names):
    """Remove networks (refused while pods use them)."""
    for n in names:
        pod.remove_network(n)
        click.echo(n)
