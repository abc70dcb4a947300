"""`minipod cri start|status|stop`: the CRI server, for the kubelet's
--container-runtime-endpoint."""

import click


def register(cli):
    """Add the cri group to the top-level group."""

    @cli.group("cri", context_settings={"help_option_names": ["-h", "--help"]})
    def cri_group():
        """The Container Runtime Interface server (for the kubelet)."""

    @cri_group.command("start")
    def cri_start():
        """Start the CRI server unless it runs; print its endpoint."""
        from minipod import cri
        cri.ensure_running()
        click.echo(cri.endpoint())

    @cri_group.command("status")
    def cri_status():
        """Whether the CRI server runs, its pid, endpoint and log."""
        from minipod import cri
        info = cri.status()
        if not info["running"]:
            click.echo(f"not running (log: {info['log']})")
            return 3
        mem = info.get("memory") or {}
        click.echo(f"running, pid {info['pid']}, {info['endpoint']}, RSS {mem.get('Rss', 0) // 1024} MB, "
                   f"log {info['log']}")
        return 0

    @cri_group.command("stop")
    def cri_stop():
        """Stop the CRI server (the sandboxes it made stay: they are the kubelet's)."""
        from minipod import cri
        click.echo("stopped" if cri.stop() else "not running")
