"""`minipod agent status|stop|logs|start`: the node agent, which the CLI
otherwise starts by itself when something needs it."""

import sys

import click


def _line_count(ctx, param, value):
    """-n N: ASCII digits only (int() would take "٣" and "1_000")."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        from minipod.errors import InvalidArgument
        raise InvalidArgument(f"invalid -n {value!r}: expected a number of lines")
    return int(value)


def register(cli):
    """Add the agent group to the top-level group."""

    @cli.group("agent", context_settings={"help_option_names": ["-h", "--help"]})
    def agent_group():
        """The node agent (restarts, Pods, Deployments)."""

    @agent_group.command("status")
    def agent_status():
        """Whether the agent runs, its pid, memory and log."""
        from minipod.roles import agent
        info = agent.status()
        if not info["running"]:
            click.echo(f"not running (log: {info['log']})")
            return 3  # as `systemctl status` says "inactive"
        mem = info.get("memory") or {}
        serving = "serving commands" if info["serving"] else "not serving commands"
        click.echo(f"running, pid {info['pid']}, {serving}, RSS {mem.get('Rss', 0) // 1024} MB, log {info['log']}")
        return 0

    @agent_group.command("start")
    def agent_start():
        """Start the agent unless it runs; return once it serves commands."""
        from minipod.roles import agent
        pid = agent.ensure_running()
        agent.wait_serving()
        click.echo(pid)

    @agent_group.command("stop")
    def agent_stop():
        """Stop the agent (containers keep running; restarts wait for the next one)."""
        from minipod.roles import agent
        click.echo("stopped" if agent.stop() else "not running")

    @agent_group.command("logs")
    @click.option("-n", "--tail", "tail", callback=_line_count, help="Only the last N lines.")
    def agent_logs(tail):
        """Print the agent's log."""
        from minipod.roles import agent
        try:
            data = agent.log_path().read_bytes()
        except FileNotFoundError:
            return 0
        if tail is not None:
            data = b"".join(data.splitlines(keepends=True)[-tail:] if tail else [])
        sys.stdout.buffer.write(data)
        return 0
