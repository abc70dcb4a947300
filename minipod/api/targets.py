"""Which container `exec` and `logs` mean, in kubectl's words beside
docker's: a container's own name or id (docker's), or ``POD``, ``pod/POD``,
``deploy/NAME`` (a Running pod of the Deployment), with ``-c CONTAINER``
and ``-n NAMESPACE``. A pod with several containers and no ``-c`` means
its first container, with the note kubectl prints (or the one named by the
``kubectl.kubernetes.io/default-container`` annotation).
"""

from minipod.core import container, pod
from minipod.errors import InvalidArgument, NotFound

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def resolve(ref: str, container_name=None, namespace: str = "default"):
    """(container record, note or None) for ``ref``; NotFound or
    InvalidArgument (one line, kubectl's wording) otherwise."""
    kind, _, name = ref.partition("/") if "/" in ref else ("", "", ref)
    if not kind and container_name is None:
        rec = container.store().find(ref)
        if rec is not None:
            return rec, None  # docker's names and ids come first, as before
    from minipod.objects import kinds  # the object layer only once a pod is meant
    which = kinds.by_name(kind) if kind else kinds.POD
    if which is not kinds.POD and which is not kinds.DEPLOYMENT:
        raise InvalidArgument(f"cannot exec into or read the logs of {kind!r}: use a pod, pod/NAME or deploy/NAME")
    if not name:
        raise InvalidArgument(f"{ref!r} names no pod")
    obj = _pod_of_deployment(namespace, name) if which is kinds.DEPLOYMENT else pod_object(namespace, name)
    return _container_of(obj, container_name)


# The object layer is imported only once a pod is meant (in each function
# here): a container's own name costs `exec` and `logs` nothing more.

def pod_object(namespace: str, name: str) -> dict:
    from minipod.objects import kinds, store
    from minipod.roles.kubelet import pods
    obj = store.get(kinds.POD, namespace, name)
    if obj is not None:
        return obj
    if namespace == "default":
        for local in pods.local_pod_objects():  # `pod create` / `run` pods show in namespace default
            if local["metadata"]["name"] == name:
                return local
    raise NotFound(f'pods "{name}" not found' + ("" if namespace == "default" else f" in namespace {namespace}"))


def pod_record(namespace: str, name: str) -> dict:
    """The minipod pod (its record, with status) of the Pod object ``name``
    in ``namespace``: port-forward's and trace's target. NotFound when there
    is no such pod or it has not been made yet."""
    from minipod.roles.kubelet import pods
    obj = pod_object(namespace, name)
    uid = obj["metadata"]["uid"]
    rec = pods.realised().get(uid) or pod.store().find(uid)
    if rec is None:
        raise NotFound(f"pod {name} has no sandbox yet")
    return pod.with_status(rec)


def _pod_of_deployment(namespace: str, name: str) -> dict:
    from minipod.objects import kinds, store
    from minipod.roles.controllers import deployments
    from minipod.roles.kubelet import pods
    dep = store.get(kinds.DEPLOYMENT, namespace, name)
    if dep is None:
        raise NotFound(f'deployments.apps "{name}" not found')
    mine = pods.with_status(deployments.owned_pods(dep))
    # kubectl takes a running pod first, then the oldest.
    mine.sort(key=lambda p: ((p.get("status") or {}).get("phase") != "Running",
                             p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
    if not mine:
        raise NotFound(f"deployment {name} has no pod yet")
    return mine[0]


def _container_of(obj: dict, container_name):
    names = [c["name"] for c in obj["spec"]["containers"]]
    pod_name = obj["metadata"]["name"]
    note = None
    if container_name is None:
        wanted = (obj["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER)
        container_name = wanted if wanted in names else names[0] if names else None
        if len(names) > 1 and wanted not in names:
            note = f'Defaulted container "{container_name}" out of: {", ".join(names)}'
    if container_name not in names:
        raise InvalidArgument(f"container {container_name} is not valid for pod {pod_name}")
    rec = _record(obj, container_name)
    if rec is None:
        raise NotFound(f'container "{container_name}" in pod "{pod_name}" is waiting to start: ContainerCreating')
    return rec, note


def _record(obj: dict, container_name: str):
    from minipod.roles.kubelet import pods
    uid = obj["metadata"]["uid"]
    rec = pods.realised().get(uid)
    if rec is None:  # a pod of `pod create` / `run`: its uid is its id, its containers keep their names
        return next((c for c in pod.containers_of(uid) if c["name"] == container_name), None)
    for crec in pod.containers_of(rec["id"]):
        if (crec.get("labels") or {}).get(pods.CONTAINER_LABEL) == container_name:
            return crec
    return None


def split_exec_args(args: list):
    """kubectl's `exec POD -c C -n NS -it [--] CMD`: the flags that follow
    the pod, up to ``--`` or the first word that is not one of them; and
    the command after them. With ``--``, anything else before it is refused."""
    flags = {"interactive": False, "tty": False}
    dashdash = "--" in args
    j = 0
    while j < len(args):
        arg = args[j]
        if arg == "--":
            return flags, args[j + 1:]
        if arg in ("-c", "--container", "-n", "--namespace"):
            if j + 1 >= len(args):
                raise InvalidArgument(f"flag needs an argument: {arg}")
            flags["container" if arg in ("-c", "--container") else "namespace"] = args[j + 1]
            j += 2
            continue
        if arg.startswith(("--container=", "--namespace=")):
            key, value = arg[2:].split("=", 1)
            flags[key] = value
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and set(arg[1:]) <= {"i", "t"}:
            flags["interactive"] |= "i" in arg
            flags["tty"] |= "t" in arg
        elif arg in ("--stdin", "--tty"):
            flags["interactive" if arg == "--stdin" else "tty"] = True
        elif dashdash:
            raise InvalidArgument(f"unexpected {arg!r} before --: the command goes after it")
        else:
            return flags, args[j:]
        j += 1
    return flags, []
