"""`minipod trace`: one real connection followed through every hop and rule
(minipod.trace)."""

import click


def register(cli, echo_json):
    """Add the trace command to the top-level group."""

    @cli.command("trace", context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--from", "source", default="host", show_default=True,
                  help="Where the flow starts: a pod's name, host, or outside (a client next to the node).")
    @click.option("-n", "--namespace", default="default", show_default=True, help="The namespace of pods and svc/.")
    @click.option("--udp", is_flag=True, help="A UDP datagram instead of a TCP connection.")
    @click.option("--count", type=click.IntRange(1, 100), default=1, show_default=True,
                  help="How many flows (each from its own port): which endpoint each reached.")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
    @click.option("--through", type=click.Choice(["auto", "gateway", "ingress"]), default="auto", show_default=True,
                  help="For http://HOST/PATH: a Gateway's nginx or the ingress's (auto: a Gateway that serves HOST).")
    @click.argument("dest")
    def trace(source, namespace, udp, count, fmt, through, dest):
        """Follow one real connection to DEST through every hop and netfilter rule.

        DEST: a pod's IP:PORT, a ClusterIP or LoadBalancer IP:PORT, svc/NAME[.NAMESPACE][:PORT],
        a node's address with a node port, or http://HOST[:PORT]/PATH through a Gateway that serves
        HOST (its listener, route and rule) or the ingress. Only what is on this node: anything else
        is refused."""
        from minipod.trace import report, run
        result = run.trace(source, dest, namespace=namespace, udp=udp, count=count, through=through)
        if fmt == "json":
            echo_json(report.as_json(result))
        else:
            click.echo(report.text(result))
        return 0 if all(t["ok"] for t in result["trials"]) else 1
