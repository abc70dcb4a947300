"""`minipod api start|status|stop` and `minipod kubeconfig [--merge]`: the
Kubernetes API on the node, which the real kubectl uses."""

import click


def register(cli):
    """Add the api group and the kubeconfig command to the top-level group."""

    @cli.group("api", context_settings={"help_option_names": ["-h", "--help"]})
    def api_group():
        """The Kubernetes API server on the node (for kubectl)."""

    @api_group.command("start")
    def api_start():
        """Start the API server unless it runs; print its URL."""
        from minipod import apiserver
        info = apiserver.ensure_running()
        click.echo(apiserver.server_url(info["address"], info["port"]))

    @api_group.command("status")
    def api_status():
        """Whether the API server runs, its pid, URL and log."""
        from minipod import apiserver
        info = apiserver.status()
        if not info["running"]:
            click.echo(f"not running (log: {info['log']})")
            return 3
        mem = info.get("memory") or {}
        click.echo(f"running, pid {info['pid']}, {info['url']}, RSS {mem.get('Rss', 0) // 1024} MB, "
                   f"log {info['log']}")
        return 0

    @api_group.command("stop")
    def api_stop():
        """Stop the API server."""
        from minipod import apiserver
        click.echo("stopped" if apiserver.stop() else "not running")

    @cli.command("kubeconfig")
    @click.option("--merge", is_flag=True,
                  help="Add a minipod context to ~/.kube/config (others untouched) and make it current.")
    def kubeconfig(merge):
        """Print the admin kubeconfig of minipod's API (starting the server), as `kind get kubeconfig`."""
        import yaml
        from minipod import apiserver, kubeconfig
        from minipod.apiserver import pki
        ours = apiserver.kubeconfig()
        if not merge:
            click.echo(yaml.safe_dump(ours, sort_keys=False).rstrip())
            return
        target = kubeconfig.add_to_user(ours)
        click.echo(f'Set kubectl context to "{pki.CLUSTER}" in {target}')
