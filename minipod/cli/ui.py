"""`minipod ui [--port P]`: the node, live, in a browser (minipod.ui)."""

import click


def register(cli):
    """Add the ui command to the top-level group."""

    @cli.command("ui", context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True,
                  help="The port on 127.0.0.1 (0: any free one).")
    def ui(port):
        """Serve a live picture of the node on 127.0.0.1, with traces drawn on it; until interrupted."""
        from minipod.ui import server
        server.serve(port, ready=lambda url: click.echo(f"minipod ui: open {url}  (Ctrl-C stops it)"))
