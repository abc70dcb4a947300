"""podman's pod verbs: pod create, ls, inspect, stop, start, check, rm."""

import click

from minipod import spec
from minipod.core import container, pod, removal
from minipod.errors import InvalidArgument
from minipod.printers import docker
from minipod.cli.base import (CONTEXT, cli, echo_json, finish_after_release, limit_options, limits, timeout_seconds,
                              warn)

@cli.group("pod", context_settings=CONTEXT)
def pod_group():
    """Manage pods."""


SHARED_ALWAYS = ("ipc", "net", "uts")  # held by pause for the pod's life


@pod_group.command("create")
@click.option("--name")
@click.option("--hostname")
@click.option("-p", "--publish", multiple=True)
@click.option("--network", "--net", "network_name")
@click.option("-l", "--label", multiple=True, help="KEY=VALUE (Kubernetes label syntax).")
@click.option("--share", default=",".join(SHARED_ALWAYS + ("pid",)), show_default=True,
              help="The namespaces its containers share (podman's): ipc, net and uts always; "
                   "with pid, pause is PID 1 of them all, else each is PID 1 of its own.")
@limit_options
def pod_create(name, hostname, publish, network_name, label, share, memory, memory_swap, cpus, cpu_shares,
               pids_limit):
    """Create and start a pod (its pause process and network); limits cap
    all of its containers together."""
    rec = pod.create(name=name, hostname=hostname, ports=spec.parse_ports(publish),
                     network_name=network_name, labels=spec.parse_labels(label),
                     limits=limits(memory, memory_swap, cpus, cpu_shares, pids_limit),
                     share_pid=_shares_pid(share))
    from minipod.roles import agent
    agent.start_soon()  # the node process, for the next command
    click.echo(rec["id"])


def _shares_pid(share: str) -> bool:
    """Whether ``--share`` includes pid; what pause holds cannot be left out."""
    wanted = {n.strip() for n in share.split(",") if n.strip()}
    unknown = wanted - set(SHARED_ALWAYS) - {"pid"}
    if unknown:
        raise InvalidArgument(f"--share {share}: unknown namespace(s) {', '.join(sorted(unknown))} "
                              "(choose from ipc, net, pid, uts)")
    if not set(SHARED_ALWAYS) <= wanted:
        raise InvalidArgument(f"--share {share}: a minipod pod's containers always share ipc, net and uts "
                              "(pause holds them); only pid is a choice")
    return "pid" in wanted


@pod_group.command("ls")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("-q", "--quiet", is_flag=True)
def pod_ls(fmt, quiet):
    """List pods."""
    pods = sorted(pod.list_pods(), key=lambda p: -p["created"])
    counts = pod.container_counts()
    if quiet:
        for p in pods:
            click.echo(p["id"][:12])
    elif fmt == "json":
        echo_json(docker.pod_ls_json(pods, counts))
    else:
        click.echo(docker.table(docker.POD_HEADERS, docker.pod_rows(pods, counts)))


@pod_group.command("inspect")
@click.argument("refs", nargs=-1, required=True)
def pod_inspect(refs):
    """Show pods' details as JSON."""
    echo_json([docker.pod_inspect(*pod.describe(ref, container.with_status)) for ref in refs])


@pod_group.command("stop")
@click.option("-t", "--time", "timeout", default="10", show_default=True, callback=timeout_seconds,
              help="Seconds to wait before SIGKILL.")
@click.argument("refs", nargs=-1, required=True)
def pod_stop(timeout, refs):
    """Stop pods: their containers, pause, and network."""
    for ref in refs:
        pod.stop(ref, timeout)
        click.echo(ref)


@pod_group.command("start")
@click.argument("refs", nargs=-1, required=True)
def pod_start(refs):
    """Start stopped pods (new pause, network re-attached)."""
    from minipod.roles import agent
    for ref in refs:
        pod.start(ref)
        agent.start_soon()  # the node process, for the next command
        click.echo(ref)


@pod_group.command("check")
@click.argument("refs", nargs=-1, required=True)
def pod_check(refs):
    """Ask the CNI plugins whether pods' networking is as they set it up (CHECK)."""
    for ref in refs:
        for key in pod.check(ref):
            click.echo(f"{ref}\t{key}\tok")


@pod_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Remove the pod's containers first.")
@click.option("-t", "--time", "timeout", default="10", callback=timeout_seconds,
              help="Seconds to wait before SIGKILL.")
@click.argument("refs", nargs=-1, required=True)
def pod_rm(force, timeout, refs):
    """Remove pods."""
    pending = []  # their network teardowns, done after the caller has the exit code
    try:
        for ref in refs:
            warnings, teardown = removal.remove_pod_deferred(ref, force=force, timeout=timeout)
            for warning in warnings:
                warn(warning)
            if teardown:
                pending.append((ref, teardown))
            click.echo(ref)
    except BaseException:
        for _ref, teardown in pending:  # the command fails: what it began is finished before it exits
            teardown()
        raise
    finish_after_release(0, [(f"pod {ref}: ", teardown) for ref, teardown in pending])
