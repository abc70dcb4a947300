"""kubectl's verbs over minipod's Kubernetes objects: apply, get,
describe, delete. Thin: each parses, calls minipod.api, prints."""

import click

from minipod.printers import docker
from minipod.errors import InvalidArgument


def register(cli, echo_json):
    """Add the object verbs to the top-level group."""

    @cli.command()
    @click.option("-f", "--filename", "sources", multiple=True, required=True,
                  help="A YAML/JSON file, a directory of them, or - for stdin.")
    def apply(sources):
        """Create or update objects from Kubernetes YAML (all checked first)."""
        from minipod.roles import agent
        from minipod.api import manifests, verbs
        checked = manifests.check(manifests.load(sources))
        agent.check_settings()  # before anything is stored
        results = verbs.apply(checked)
        if any(kind.kind in ("Pod", "Deployment", "Service", "Endpoints", "Ingress", "GatewayClass", "Gateway",
                             "HTTPRoute", "ReferenceGrant") for kind, *_ in results):
            agent.ensure_running()  # the kubelet's and the controllers' part
        for kind, ns, name, action in results:
            click.echo(f"{kind.kind.lower()}/{name} {action}")
        from minipod.api import admission
        for line in admission.warnings(results):
            click.echo(f"Warning: {line}", err=True)  # as kubectl prints the API server's warnings

    @cli.command()
    @click.option("--for", "condition", required=True,
                  help="condition=Ready (pods), condition=Available (deployments), or delete.")
    @click.option("-l", "--selector", help="Label selector of the pods to wait for.")
    @click.option("--all", "all_of_kind", is_flag=True, help="Every object of the kind in the namespace.")
    @click.option("-n", "--namespace", default="default", show_default=True)
    @click.option("--timeout", default="30", show_default=True, callback=_seconds, help="Seconds.")
    @click.argument("refs", nargs=-1)
    def wait(condition, selector, all_of_kind, namespace, timeout, refs):
        """Wait for a condition, as kubectl wait: pod/NAME, pod -l SEL, pods --all, deployment/NAME,
        gateway/NAME (condition=Programmed), httproute/NAME, gatewayclass/NAME."""
        from minipod.roles import agent
        from minipod.api import waiting
        kind, names = waiting.parse_refs(refs, selector, all_of_kind)
        agent.ensure_if_needed()
        if kind == "deployment":
            for name in waiting.wait_deployments(names, namespace, condition, timeout):
                click.echo(f"deployment.apps/{name} condition met")
            return
        if kind not in ("pod", "deployment"):  # the Gateway API's kinds
            from minipod.objects import kinds
            which = kinds.by_name(kind)
            for name in waiting.wait_conditions(kind, names, namespace, condition, timeout):
                click.echo(f"{which.kind.lower()}.{which.group}/{name} condition met")
            return
        for name in waiting.wait_pods(names, "" if all_of_kind and selector is None else selector,
                                      namespace, condition, timeout):
            click.echo(f"pod/{name} condition met")

    @cli.group()
    def rollout():
        """Follow a Deployment's rollout."""

    @rollout.command("status")
    @click.option("-n", "--namespace", default="default", show_default=True)
    @click.option("--timeout", default="300", show_default=True, callback=_seconds, help="Seconds.")
    @click.argument("ref", metavar="deployment/NAME")
    def rollout_status(namespace, timeout, ref):
        """Wait until a Deployment runs its current template everywhere."""
        from minipod.roles import agent
        from minipod.api import waiting
        kind_name, name = _split_ref(ref, None)
        if kind_name.lower() not in ("deployment", "deployments", "deploy") or not name:
            raise InvalidArgument(f"rollout status takes deployment/NAME, not {ref!r}")
        agent.ensure_if_needed()
        waiting.rollout_status(namespace, name, timeout, click.echo)
        click.echo(f'deployment "{name}" successfully rolled out')

    @cli.command()
    @click.option("--replicas", required=True, type=click.IntRange(0, 1000))
    @click.option("-n", "--namespace", default="default", show_default=True)
    @click.argument("ref", metavar="deployment/NAME")
    def scale(replicas, namespace, ref):
        """Set a Deployment's replica count."""
        from minipod.roles import agent
        from minipod.api import verbs
        kind_name, name = _split_ref(ref, None)
        if not name:
            raise InvalidArgument("scale needs deployment/NAME")
        verbs.scale(kind_name, namespace, name, replicas)
        agent.ensure_running()
        click.echo(f"deployment.apps/{name} scaled")

    @cli.command()
    @click.option("-n", "--namespace", default="default", show_default=True)
    @click.option("-A", "--all-namespaces", is_flag=True)
    @click.option("-l", "--selector", help="Label selector, e.g. app=web,tier!=db.")
    @click.option("-o", "--output", "fmt", type=click.Choice(["wide", "yaml", "json", "name"]))
    @click.argument("kind_name", metavar="KIND")
    @click.argument("name", required=False)
    def get(namespace, all_namespaces, selector, fmt, kind_name, name):
        """List objects of a kind (or show one), as kubectl get does."""
        from minipod.api import verbs
        kind_name, name = _split_ref(kind_name, name)
        from minipod.roles import agent
        agent.ensure_if_needed()
        kind, objs = verbs.get(kind_name, name, namespace, all_namespaces, selector)
        if fmt == "yaml":
            if objs:
                from minipod.printers import kubectl
                click.echo(kubectl.object_yaml(objs))
        elif fmt == "json":
            echo_json(objs[0] if name else {"apiVersion": "v1", "kind": "List", "items": objs})
        elif fmt == "name":
            for o in objs:
                click.echo(f"{kind.kind.lower()}/{o['metadata']['name']}")
        elif not objs:
            where = "" if not kind.namespaced or all_namespaces else f" in {namespace} namespace"
            click.echo(f"No resources found{where}.", err=True)
        else:
            from minipod.api import printing
            headers, rows = printing.rows(kind, objs, all_namespaces, fmt == "wide")
            click.echo(docker.table(headers, rows))

    @cli.command()
    @click.option("-n", "--namespace", default="default", show_default=True)
    @click.argument("kind_name", metavar="KIND")
    @click.argument("name", required=False)
    def describe(namespace, kind_name, name):
        """Show an object in kubectl describe's layout."""
        from minipod.api import verbs
        kind_name, name = _split_ref(kind_name, name)
        if not name:
            raise InvalidArgument("describe needs a NAME (or KIND/NAME)")
        kind, objs = verbs.get(kind_name, name, namespace)
        from minipod.api import printing
        click.echo(printing.describe(kind, objs[0]))

    @cli.command()
    @click.option("-f", "--filename", "sources", multiple=True, help="Delete what these files name.")
    @click.option("-n", "--namespace", default="default", show_default=True)
    @click.argument("kind_name", metavar="KIND", required=False)
    @click.argument("names", nargs=-1)
    def delete(sources, namespace, kind_name, names):
        """Delete objects named in files (-f) or as KIND NAME..."""
        from minipod.api import manifests, verbs
        from minipod.objects import kinds
        if sources:
            targets = [(k, o["metadata"].get("namespace"), o["metadata"]["name"])
                       for k, o in manifests.check(manifests.load(sources))]
        else:
            if not kind_name:
                raise InvalidArgument("delete needs -f FILE, or KIND NAME...")
            kind_name, first = _split_ref(kind_name, None)
            refs = ([first] if first else []) + list(names)
            if not refs:
                raise InvalidArgument("delete needs a NAME")
            kind = kinds.by_name(kind_name)
            targets = [(kind, namespace, n) for n in refs]
        for kind, ns, name in reversed(targets):  # namespaces last when a file made them first
            verbs.delete(kind, ns, name)
            click.echo(f'{kind.kind.lower()} "{name}" deleted')


def _seconds(ctx, param, value):
    """--timeout as seconds (kubectl also takes 30s, 2m)."""
    from minipod import spec
    text = str(value)
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
    return spec.parse_timeout(text[:-1] if scale else text) * (scale or 1)


def _split_ref(kind_name: str, name):
    """kubectl's KIND/NAME form; an empty NAME is refused, as kubectl does."""
    if name == "" or kind_name.endswith("/"):
        raise InvalidArgument("resource name may not be empty")
    if "/" in kind_name:
        if name:
            raise InvalidArgument("there is no need to give a NAME after KIND/NAME")
        kind_name, _, name = kind_name.partition("/")
    return kind_name, name
