"""docker's container verbs: run, exec, ps, inspect, logs, stop, start, restart,
kill, rm, stats."""

import os
import sys

import click

from minipod import spec
from minipod.core import container, pod
from minipod.printers import docker
from minipod.errors import InvalidArgument, NotFound
from minipod.cli.base import (CONTEXT, cli, echo_json, finish_after_release, limit_options, limits, timeout_seconds,
                              warn)

@cli.command(context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the id.")
@click.option("-i", "--interactive", is_flag=True, help="Keep stdin open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-terminal.")
@click.option("--rm", "auto_remove", is_flag=True, help="Remove the container (and its pod) when it exits.")
@click.option("--name")
@click.option("--pod", "pod_ref", help="Join an existing pod.")
@click.option("-e", "--env", multiple=True, help="KEY=VALUE")
@click.option("-w", "--workdir")
@click.option("--hostname")
@click.option("-u", "--user", help="UID[:GID]")
@click.option("-p", "--publish", multiple=True, help="[HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTO]")
@click.option("--network", "--net", "network_name", help="Network name, none or host.")
@click.option("--cap-add", multiple=True)
@click.option("--cap-drop", multiple=True)
@click.option("--privileged", is_flag=True)
@click.option("--security-opt", multiple=True,
              help="seccomp=unconfined or seccomp=PROFILE.json (docker's format).")
@click.option("--entrypoint", help="Replace the image's entrypoint (\"\" clears it).")
@click.option("-l", "--label", multiple=True, help="KEY=VALUE, on the container (and its own pod).")
@click.option("-v", "--volume", multiple=True, help="SOURCE:TARGET[:ro], SOURCE a host path or volume name.")
@click.option("--mount", "mount_specs", multiple=True, help="type=bind|volume|tmpfs,source=…,target=…[,readonly]")
@click.option("--tmpfs", multiple=True, help="TARGET[:OPTIONS]")
@click.option("--device", "devices", multiple=True, help="HOST[:CONTAINER[:PERMISSIONS]]: a host device (docker's).")
@click.option("--restart", "restart_policy", help="no | on-failure[:N] | always | unless-stopped (the agent restarts).")
@limit_options
@click.argument("image_ref", metavar="IMAGE")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(detach, interactive, tty, auto_remove, name, pod_ref, env, workdir, hostname, user,
        publish, network_name, cap_add, cap_drop, privileged, security_opt, entrypoint, label, volume,
        mount_specs, tmpfs, devices, restart_policy, memory, memory_swap, cpus, cpu_shares, pids_limit, image_ref,
        command):
    """Run a command in a new container."""
    from minipod.core import mounts
    if detach and auto_remove:
        raise InvalidArgument("--rm and -d cannot be combined (nobody would be there to remove it)")
    restart = spec.parse_restart(restart_policy) if restart_policy else None
    if restart and restart["name"] != "no" and (auto_remove or not detach):
        raise InvalidArgument("--restart needs -d (a restarted container runs in the background) and no --rm")
    if detach and tty:
        warn("-t is ignored with -d: minipod has no attach; use `minipod exec -it`")
    opts = spec.RunOptions(
        image=image_ref, command=list(command), name=name, pod=pod_ref, env=spec.parse_env(env),
        workdir=workdir, hostname=hostname, user=spec.parse_user(user) if user else None,
        entrypoint=entrypoint, labels=spec.parse_labels(label), tty=tty and not detach,
        interactive=interactive, detach=detach, auto_remove=auto_remove,
        ports=spec.parse_ports(publish), network=network_name, cap_add=cap_add, cap_drop=cap_drop,
        privileged=privileged, seccomp=spec.parse_security_opts(security_opt),
        limits=limits(memory, memory_swap, cpus, cpu_shares, pids_limit),
        mounts=mounts.parse_all(volume, mount_specs, tmpfs), restart=restart,
        devices=[spec.parse_device(d) for d in devices])
    rec = container.run(opts)
    from minipod.roles import agent
    agent.after_start(rec)  # the node process: now with a restart policy, else for the next command
    if detach:
        click.echo(rec["id"])
        return 0
    from minipod.cli import foreground
    code, warnings, rest = foreground.run_until_exit(rec, interactive, auto_remove)
    for warning in warnings:
        warn(warning)
    code = 255 if code is None else code
    if rest:  # --rm: the name is free; the pod's network goes after the caller has the code
        finish_after_release(code, [("", rest)])
    return code


@cli.command(context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True)
@click.option("-t", "--tty", is_flag=True)
@click.option("-e", "--env", multiple=True)
@click.option("-w", "--workdir")
@click.option("-u", "--user")
@click.option("-c", "--container", "container_name", help="The container of a pod (kubectl's -c).")
@click.option("-n", "--namespace", default="default", show_default=True, help="The pod's namespace.")
@click.argument("ref", metavar="CONTAINER|POD|pod/POD|deploy/NAME")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec(interactive, tty, env, workdir, user, container_name, namespace, ref, command):
    """Run a command in a running container (or a pod's, as kubectl exec)."""
    if command[0].startswith("-"):
        # kubectl's `exec POD [-c C] [-n NS] [-it] [--] CMD...`: flags may follow the
        # pod (no command starts with "-", so docker's `exec CTR CMD` is unchanged).
        from minipod.api import targets
        flags, command = targets.split_exec_args(list(command))
        interactive, tty = interactive or flags["interactive"], tty or flags["tty"]
        container_name = flags.get("container") or container_name
        namespace = flags.get("namespace") or namespace
        if not command:
            raise InvalidArgument("exec needs a command after --")
    rec_id = _target(ref, container_name, namespace)
    from minipod.cli import foreground
    return foreground.exec_until_exit(rec_id, list(command), spec.parse_env(env), workdir, tty, interactive,
                                      spec.parse_user(user) if user else None)


def _target(ref, container_name, namespace) -> str:
    """The id of the container ``ref`` means (docker's names, or kubectl's pods)."""
    from minipod.api import targets
    rec, note = targets.resolve(ref, container_name, namespace)
    if note:
        click.echo(note, err=True)
    return rec["id"]


@cli.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Show stopped containers too.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def ps(show_all, quiet, fmt):
    """List containers."""
    records = [r for r in container.list_containers() if show_all or r["status"] == "running"]
    records.sort(key=lambda r: -r["created"])
    pods = {p["id"]: p for p in pod.list_pods()}
    if quiet:
        for r in records:
            click.echo(r["id"][:12])
    elif fmt == "json":
        echo_json([docker.container_inspect(r, pods.get(r.get("pod"), {})) for r in records])  # no namespaces: cheap
    else:
        click.echo(docker.table(docker.PS_HEADERS, docker.ps_rows(records, pods)))


@cli.command()
@click.argument("refs", nargs=-1, required=True)
def inspect(refs):
    """Show a container's (or pod's) details as JSON."""
    out = []
    for ref in refs:
        try:
            out.append(docker.container_inspect(*container.describe(ref)))
        except NotFound:
            try:
                out.append(docker.pod_inspect(*pod.describe(ref, container.with_status)))
            except NotFound:
                raise NotFound(f"no such container or pod: {ref}") from None
    echo_json(out)


@cli.command()
@click.option("-f", "--follow", is_flag=True)
@click.option("-p", "--previous", is_flag=True, help="A Pod object's container: the run before the current one.")
@click.option("-c", "--container", "container_name", help="The container of a pod (kubectl's -c).")
@click.option("-n", "--namespace", default="default", show_default=True, help="The pod's namespace.")
@click.argument("ref", metavar="CONTAINER|POD|pod/POD|deploy/NAME")
def logs(follow, previous, container_name, namespace, ref):
    """Print a detached container's output (or a pod's, as kubectl logs)."""
    from minipod.core import stdio
    rec = container.load(_target(ref, container_name, namespace))
    if previous:
        from minipod.roles.kubelet import restarts
        rec = {**rec, "log_path": restarts.previous_log(rec)}
        if not os.path.exists(rec["log_path"]):
            raise NotFound(f"container {rec['name']} has no previous run (a Pod object's container keeps the log "
                           "of the run before the current one)")
        follow = False
    for chunk in stdio.read_logs(rec, follow, lambda r: container.status(r) == "running"):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()


@cli.command()
@click.option("-t", "--time", "timeout", default="10", show_default=True, callback=timeout_seconds,
              help="Seconds to wait before SIGKILL.")
@click.argument("refs", nargs=-1, required=True)
def stop(timeout, refs):
    """Stop containers: the image's stop signal (SIGTERM), then SIGKILL after the timeout."""
    for ref in refs:
        container.stop(ref, timeout)
        click.echo(ref)


@cli.command()
@click.argument("refs", nargs=-1, required=True)
def start(refs):
    """Start stopped containers again (their pod too, if it is stopped)."""
    _start_containers(refs, container.start)


@cli.command()
@click.option("-t", "--time", "timeout", default="10", show_default=True, callback=timeout_seconds,
              help="Seconds to wait before SIGKILL.")
@click.argument("refs", nargs=-1, required=True)
def restart(timeout, refs):
    """Stop, then start containers."""
    _start_containers(refs, lambda ref: container.restart(ref, timeout))


def _start_containers(refs, how):
    from minipod.roles import agent
    for ref in refs:
        agent.after_start(how(ref))
        click.echo(ref)


@cli.command()
@click.option("-s", "--signal", "sig", default="KILL", show_default=True)
@click.argument("refs", nargs=-1, required=True)
def kill(sig, refs):
    """Send a signal to containers."""
    number = spec.parse_signal(sig)
    for ref in refs:
        container.kill(ref, number)
        click.echo(ref)


@cli.command()
@click.option("-f", "--force", is_flag=True, help="Kill a running container first.")
@click.argument("refs", nargs=-1, required=True)
def rm(force, refs):
    """Remove containers (and the pod each one got with `run`)."""
    for ref in refs:
        for warning in container.remove(ref, force=force):
            warn(warning)
        click.echo(ref)


@cli.command()
@click.option("--no-stream", is_flag=True, help="One snapshot, then exit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("refs", nargs=-1)
def stats(no_stream, fmt, refs):
    """Live CPU, memory and process counts of running containers."""
    from minipod.core import stats as statsmod
    live = sys.stdout.isatty() and not no_stream and fmt == "table"
    for rows in statsmod.sample(refs, forever=live):
        if fmt == "json":
            echo_json(docker.stats_json(rows))
        else:
            if live:
                click.echo("\x1b[2J\x1b[H", nl=False)  # clear the screen, as docker stats does
            click.echo(docker.table(docker.STATS_HEADERS, docker.stats_rows(rows)))
