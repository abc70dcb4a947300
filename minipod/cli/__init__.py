"""The minipod command line: thin click commands over the core modules.

Each command parses its flags, calls one core function and prints. Every
MinipodError becomes one line on stderr and its exit code (125 unless the
error says otherwise); click's usage errors become exit code 125 as well.
"""

import os
import sys

import click

from minipod import __version__, container, image, network, output, pod, spec
from minipod.errors import InvalidArgument, MinipodError, NotFound

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _echo_json(data):
    click.echo(output.to_json(data))


def _timeout(ctx, param, value):
    """click callback: -t as seconds >= 0 (click's float takes nan, inf and -5)."""
    return spec.parse_timeout(value)


def _warn(message):
    click.echo(f"minipod: warning: {message}", err=True)


def limit_options(f):
    """docker's resource flags, shared by `run` and `pod create`."""
    for opt in reversed((
            click.option("-m", "--memory", help="Memory limit (e.g. 64m, 1g)."),
            click.option("--memory-swap", help="Memory plus swap (-1: unlimited swap)."),
            click.option("--cpus", help="CPUs (fractional: 0.5 is half a CPU)."),
            click.option("-c", "--cpu-shares", help="Relative CPU weight (2-262144)."),
            click.option("--pids-limit", help="Most processes at once (-1: unlimited)."))):
        f = opt(f)
    return f


def _limits(memory, memory_swap, cpus, cpu_shares, pids_limit):
    return spec.parse_limits(memory, memory_swap, cpus, cpu_shares, pids_limit)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="minipod")
@click.option("--cni-conf-dir", metavar="DIR", help="CNI .conflist directory (default /etc/minipod/net.d).")
@click.option("--cni-path", metavar="PATH", help="CNI plugin search path (default /opt/cni/bin:/usr/lib/cni).")
def cli(cni_conf_dir, cni_path):
    """minipod: containers in pods, with pause and real CNI networking."""
    # The environment is where every module (and gc, later) looks.
    if cni_conf_dir:
        os.environ["MINIPOD_CNI_CONF_DIR"] = os.path.abspath(cni_conf_dir)
    if cni_path:
        os.environ["MINIPOD_CNI_PATH"] = cni_path


# ---------------------------------------------------------------- containers

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
    from minipod import mounts
    if detach and auto_remove:
        raise InvalidArgument("--rm and -d cannot be combined (nobody would be there to remove it)")
    restart = spec.parse_restart(restart_policy) if restart_policy else None
    if restart and restart["name"] != "no" and (auto_remove or not detach):
        raise InvalidArgument("--restart needs -d (a restarted container runs in the background) and no --rm")
    if detach and tty:
        _warn("-t is ignored with -d: minipod has no attach; use `minipod exec -it`")
    opts = container.RunOptions(
        image=image_ref, command=list(command), name=name, pod=pod_ref, env=spec.parse_env(env),
        workdir=workdir, hostname=hostname, user=spec.parse_user(user) if user else None,
        entrypoint=entrypoint, labels=spec.parse_labels(label), tty=tty and not detach,
        interactive=interactive, detach=detach, auto_remove=auto_remove,
        ports=spec.parse_ports(publish), network=network_name, cap_add=cap_add, cap_drop=cap_drop,
        privileged=privileged, seccomp=spec.parse_security_opts(security_opt),
        limits=_limits(memory, memory_swap, cpus, cpu_shares, pids_limit),
        mounts=mounts.parse_all(volume, mount_specs, tmpfs), restart=restart,
        devices=[spec.parse_device(d) for d in devices])
    rec = container.run(opts)
    from minipod import agent
    if detach and restart and restart["name"] != "no":
        agent.ensure_running()
    else:
        agent.start_soon()  # the node process, for the next command
    if detach:
        click.echo(rec["id"])
        return 0
    code, warnings, rest = container.attach_until_exit(rec, interactive, auto_remove)
    for warning in warnings:
        _warn(warning)
    code = 255 if code is None else code
    if rest:  # --rm: the name is free; the pod's network goes after the caller has the code
        from minipod import handoff
        handoff.release(code)
        for error in rest():
            _warn(f"network teardown failed: {error} {pod.TEARDOWN_HINT}")
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
        from minipod.workloads import targets
        flags, command = targets.split_exec_args(list(command))
        interactive, tty = interactive or flags["interactive"], tty or flags["tty"]
        container_name = flags.get("container") or container_name
        namespace = flags.get("namespace") or namespace
        if not command:
            raise InvalidArgument("exec needs a command after --")
    rec_id = _target(ref, container_name, namespace)
    return container.exec_in(rec_id, list(command), spec.parse_env(env), workdir, tty, interactive,
                             spec.parse_user(user) if user else None)


def _target(ref, container_name, namespace) -> str:
    """The id of the container ``ref`` means (docker's names, or kubectl's pods)."""
    from minipod.workloads import targets
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
        _echo_json([output.container_inspect(r, pods.get(r.get("pod"), {})) for r in records])  # no namespaces: cheap
    else:
        click.echo(output.table(output.PS_HEADERS, output.ps_rows(records, pods)))


@cli.command()
@click.argument("refs", nargs=-1, required=True)
def inspect(refs):
    """Show a container's (or pod's) details as JSON."""
    out = []
    for ref in refs:
        try:
            out.append(output.container_inspect(*container.describe(ref)))
        except NotFound:
            try:
                out.append(output.pod_inspect(*pod.describe(ref)))
            except NotFound:
                raise NotFound(f"no such container or pod: {ref}") from None
    _echo_json(out)


@cli.command()
@click.option("-f", "--follow", is_flag=True)
@click.option("-c", "--container", "container_name", help="The container of a pod (kubectl's -c).")
@click.option("-n", "--namespace", default="default", show_default=True, help="The pod's namespace.")
@click.argument("ref", metavar="CONTAINER|POD|pod/POD|deploy/NAME")
def logs(follow, container_name, namespace, ref):
    """Print a detached container's output (or a pod's, as kubectl logs)."""
    for chunk in container.read_logs(_target(ref, container_name, namespace), follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()


@cli.command()
@click.option("-t", "--time", "timeout", default="10", show_default=True, callback=_timeout,
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
@click.option("-t", "--time", "timeout", default="10", show_default=True, callback=_timeout,
              help="Seconds to wait before SIGKILL.")
@click.argument("refs", nargs=-1, required=True)
def restart(timeout, refs):
    """Stop, then start containers."""
    _start_containers(refs, lambda ref: container.restart(ref, timeout))


def _start_containers(refs, how):
    from minipod import agent
    for ref in refs:
        rec = how(ref)
        if rec.get("restart_policy", {}).get("name", "no") != "no":
            agent.ensure_running()
        else:
            agent.start_soon()  # the node process, for the next command
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
            _warn(warning)
        click.echo(ref)


@cli.command()
@click.option("--no-stream", is_flag=True, help="One snapshot, then exit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("refs", nargs=-1)
def stats(no_stream, fmt, refs):
    """Live CPU, memory and process counts of running containers."""
    from minipod import stats as statsmod
    live = sys.stdout.isatty() and not no_stream and fmt == "table"
    for rows in statsmod.sample(refs, forever=live):
        if fmt == "json":
            _echo_json(output.stats_json(rows))
        else:
            if live:
                click.echo("\x1b[2J\x1b[H", nl=False)  # clear the screen, as docker stats does
            click.echo(output.table(output.STATS_HEADERS, output.stats_rows(rows)))


# ---------------------------------------------------------------------- pods

@cli.group("pod", context_settings=CONTEXT)
def pod_group():
    """Manage pods."""


@pod_group.command("create")
@click.option("--name")
@click.option("--hostname")
@click.option("-p", "--publish", multiple=True)
@click.option("--network", "--net", "network_name")
@click.option("-l", "--label", multiple=True, help="KEY=VALUE (Kubernetes label syntax).")
@limit_options
def pod_create(name, hostname, publish, network_name, label, memory, memory_swap, cpus, cpu_shares,
               pids_limit):
    """Create and start a pod (its pause process and network); limits cap
    all of its containers together."""
    rec = pod.create(name=name, hostname=hostname, ports=spec.parse_ports(publish),
                     network_name=network_name, labels=spec.parse_labels(label),
                     limits=_limits(memory, memory_swap, cpus, cpu_shares, pids_limit))
    from minipod import agent
    agent.start_soon()  # the node process, for the next command
    click.echo(rec["id"])


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
        _echo_json(output.pod_ls_json(pods, counts))
    else:
        click.echo(output.table(output.POD_HEADERS, output.pod_rows(pods, counts)))


@pod_group.command("inspect")
@click.argument("refs", nargs=-1, required=True)
def pod_inspect(refs):
    """Show pods' details as JSON."""
    _echo_json([output.pod_inspect(*pod.describe(ref)) for ref in refs])


@pod_group.command("stop")
@click.option("-t", "--time", "timeout", default="10", show_default=True, callback=_timeout,
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
    from minipod import agent
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
@click.option("-t", "--time", "timeout", default="10", callback=_timeout,
              help="Seconds to wait before SIGKILL.")
@click.argument("refs", nargs=-1, required=True)
def pod_rm(force, timeout, refs):
    """Remove pods."""
    pending = []  # their network teardowns, done after the caller has the exit code
    try:
        for ref in refs:
            warnings, teardown = pod.remove_deferred(ref, force=force, timeout=timeout)
            for warning in warnings:
                _warn(warning)
            if teardown:
                pending.append((ref, teardown))
            click.echo(ref)
    except BaseException:
        for _ref, teardown in pending:  # the command fails: what it began is finished before it exits
            teardown()
        raise
    if pending:
        from minipod import handoff
        handoff.release(0)
        for ref, teardown in pending:
            for error in teardown():
                _warn(f"pod {ref}: network teardown failed: {error} {pod.TEARDOWN_HINT}")


# ------------------------------------------------------------------ networks

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
    click.echo(output.table(output.NETWORK_HEADERS, output.network_rows(network.list_networks())))


@network_group.command("inspect")
@click.argument("names", nargs=-1)
def network_inspect(names):
    """Show networks like `docker network inspect bridge`."""
    from minipod import topology
    _echo_json([topology.inspect(network.load(n)) for n in (names or [network.default_name()])])


@network_group.command("show")
@click.option("--dot", is_flag=True, help="Emit Graphviz DOT instead of text.")
@click.argument("name", required=False)
def network_show(dot, name):
    """Draw the host, bridge, veths, pods and ports (on a cluster node, its pod network and its routes to the
    other nodes' pods)."""
    from minipod import topology
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


# -------------------------------------------------------------------- images

@cli.group("image", context_settings=CONTEXT)
def image_group():
    """Manage images (rootfs tarballs)."""


@image_group.command("import")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.argument("name", required=False)
def image_import(archive, name):
    """Import a docker or OCI archive, or a rootfs tarball, as NAME
    (default: the archive's own tag)."""
    progress = _layer_progress()
    rec = image.import_archive(archive, name, warn=_warn, progress=progress)
    if progress:
        click.echo("", err=True)
    click.echo(rec["name"])


def _layer_progress():
    """A per-layer progress line on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    state = {"label": None}

    def show(label, done, total):
        if state["label"] not in (None, label):
            click.echo("", err=True)  # the previous layer is done: keep its line
        state["label"] = label
        size = output.human_size(done) + (f" / {output.human_size(total)}" if total else "")
        click.echo(f"\r{label}: {size}   ", nl=False, err=True)
    return show


@image_group.command("ls")
def image_ls():
    """List images, their size and the layers they share."""
    click.echo(output.table(output.IMAGE_HEADERS, output.image_rows(image.list_images(), image.layer_usage())))


@image_group.command("inspect")
@click.argument("refs", nargs=-1, required=True)
def image_inspect(refs):
    """Show images' config and layers as JSON (docker's shape)."""
    _echo_json([image.inspect(r) for r in refs])


@image_group.command("rm")
@click.option("-f", "--force", is_flag=True)
@click.argument("names", nargs=-1, required=True)
def image_rm(force, names):
    """Remove images (refused while containers use them, unless -f); layers
    no other image uses are freed."""
    for n in names:
        container.remove_image(n, force)
        click.echo(n)


@cli.command()
@click.option("--tls-verify/--no-tls-verify", default=True, show_default=True,
              help="Verify the registry's certificate (off for a local registry).")
@click.option("--authfile", type=click.Path(dir_okay=False), help="Registry credentials (skopeo's format).")
@click.option("--name", help="Store as NAME (default: the reference's last part).")
@click.argument("ref")
def pull(tls_verify, authfile, name, ref):
    """Fetch an image from a registry (through skopeo) and import it."""
    from minipod.image import pull as pullmod
    progress = _layer_progress()
    rec = pullmod.pull(ref, name=name, tls_verify=tls_verify, authfile=authfile, warn=_warn,
                       progress=progress)
    if progress:
        click.echo("", err=True)
    click.echo(rec["name"])


# ------------------------------------------------------------------------ gc

@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what leaked, by kind, with the reason.")
@click.option("--force", is_flag=True,
              help="An attachment whose CNI DEL cannot run (plugin gone, failing, hanging) is released as far as "
                   "minipod can: its cache, host-local IPs and nat rules naming it; what is left is said.")
def gc(dry_run, force):
    """Find and release leaked state: CNI attachments, netns pins, processes, dirs.

    Each line says what happened: removed, failed (with the reason: the
    command then exits 1), forced (--force), or leaked (--dry-run: exits 1
    when anything is found)."""
    from minipod import gc as gcmod
    found = gcmod.collect(dry_run=dry_run, force=force)
    for f in found:
        if f.outcome == "busy":  # a teardown under way: not a leftover
            _warn(f"{f.kind} {f.item} is {f.reason}")
        else:
            click.echo(f.line())
    failed = [f for f in found if f.outcome == "failed"]
    for hint in gcmod.force_hint(failed):
        click.echo(hint, err=True)
    if dry_run:
        return 1 if any(f.outcome == "leaked" for f in found) else 0
    return 1 if failed else 0


from minipod.cli import agent as _agent, api as _api, cluster as _cluster, cri as _cri, objects as _objects, trace as _trace, ui as _ui, volumes as _volumes  # noqa: E402,E501

_objects.register(cli, _echo_json)
_volumes.register(cli, _echo_json)
_agent.register(cli)
_api.register(cli)
_cri.register(cli)
_cluster.register(cli)
_trace.register(cli, _echo_json)
_ui.register(cli)


def _ensure_std_fds():
    """Open /dev/null on any of fds 0-2 that is closed (CI may start us with
    no stdin): otherwise the next file minipod opens would become "stdin"."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open("/dev/null", os.O_RDWR)  # takes the lowest free number: fd


def main():
    _ensure_std_fds()
    try:
        code = cli.main(prog_name="minipod", standalone_mode=False)
    except MinipodError as e:
        # One line, always: plugin and library messages may span several.
        click.echo("minipod: " + " ".join(str(e).split()), err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("minipod: aborted", err=True)
        sys.exit(125)
    except click.ClickException as e:
        click.echo(f"minipod: {e.format_message()}", err=True)
        sys.exit(125)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # a bug or an unexpected OS error: still one line
        if os.environ.get("MINIPOD_DEBUG"):
            raise
        click.echo(f"minipod: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
                   "(MINIPOD_DEBUG=1 shows the traceback)", err=True)
        sys.exit(125)
    sys.exit(code if isinstance(code, int) else 0)
