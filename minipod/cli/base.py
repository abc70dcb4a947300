"""What every command of the CLI shares: the top-level group, docker's
resource flags, and how a command prints JSON and warnings."""

import os

import click

from minipod import __version__, spec
from minipod.printers import docker

CONTEXT = {"help_option_names": ["-h", "--help"]}


def echo_json(data):
    click.echo(docker.to_json(data))


def timeout_seconds(ctx, param, value):
    """click callback: -t as seconds >= 0 (click's float takes nan, inf and -5)."""
    return spec.parse_timeout(value)


def warn(message):
    click.echo(f"minipod: warning: {message}", err=True)


def finish_after_release(code: int, teardowns) -> None:
    """Give the caller its exit code now (handoff.release), then run the
    slow halves of removals (``teardowns``: [(what, callable returning
    errors)]) and warn about what failed: `run --rm` and `pod rm`."""
    if not teardowns:
        return
    from minipod import handoff
    from minipod.core import pod
    handoff.release(code)
    for what, teardown in teardowns:
        for error in teardown():
            warn(f"{what}network teardown failed: {error} {pod.TEARDOWN_HINT}")


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


def limits(memory, memory_swap, cpus, cpu_shares, pids_limit):
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
