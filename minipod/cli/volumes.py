"""docker's `volume` verbs: create, ls, inspect, rm."""

import click

from minipod.printers import docker


def register(cli, echo_json):
    """Add the volume group to the top-level group."""

    @cli.group("volume", context_settings={"help_option_names": ["-h", "--help"]})
    def volume_group():
        """Manage named volumes."""

    @volume_group.command("create")
    @click.option("-l", "--label", multiple=True, help="KEY=VALUE")
    @click.argument("name", required=False)
    def volume_create(label, name):
        """Create a volume (exists already: nothing to do, as in docker)."""
        from minipod import spec
        from minipod.core import volumes
        click.echo(volumes.create(name, spec.parse_labels(label))["Name"])

    @volume_group.command("ls")
    @click.option("-q", "--quiet", is_flag=True)
    def volume_ls(quiet):
        """List volumes."""
        from minipod.core import volumes
        vols = volumes.list_volumes()
        if quiet:
            for v in vols:
                click.echo(v["Name"])
            return
        click.echo(docker.table(["DRIVER", "VOLUME NAME"], [[v["Driver"], v["Name"]] for v in vols]))

    @volume_group.command("inspect")
    @click.argument("names", nargs=-1, required=True)
    def volume_inspect(names):
        """Show volumes as JSON."""
        from minipod.core import volumes
        echo_json([volumes.inspect(n) for n in names])

    @volume_group.command("rm")
    @click.option("-f", "--force", is_flag=True, help="Accepted for docker's sake; a volume in use stays.")
    @click.argument("names", nargs=-1, required=True)
    def volume_rm(force, names):
        """Remove volumes (refused while a container uses them)."""
        from minipod.core import volumes
        for n in names:
            volumes.remove(n, force)
            click.echo(n)
