"""The API's verbs over the object store, one implementation for the CLI
and the HTTP API: apply (create or update), get with live status, delete
with what depends on the object, scale.

    results = apply(objs)   # [(kind, namespace, name, created|configured|unchanged)]
"""

from minipod.errors import Conflict, Forbidden, InvalidArgument, NotFound
from minipod.objects import kinds, store, workloads

def _check_pod_update(obj: dict) -> None:
    """As the API server: a pod's spec cannot change once it exists (its
    labels and annotations can), and a name held by a `minipod pod create`
    pod is taken."""
    from minipod.core import pod as podmod
    meta = obj["metadata"]
    old = store.get(kinds.POD, meta["namespace"], meta["name"])
    if old is not None:
        if old["spec"] != obj["spec"]:
            raise InvalidArgument(f'Pod "{meta["name"]}" is invalid: spec: Forbidden: pod updates may not '
                                  "change the spec (delete the pod and apply it again)")
        return
    local = workloads.local_pod_name(meta["namespace"], meta["name"])
    if podmod.store().find(local) is not None:
        raise InvalidArgument(f'pods "{meta["name"]}" already exists (made by `minipod pod create` or `run`)')


def _namespace_exists(name: str, pending: set) -> bool:
    return name in kinds.DEFAULT_NAMESPACES or name in pending or \
        store.get(kinds.NAMESPACE, None, name) is not None


def apply(objs) -> list:
    """Store every checked object (create or update); namespaces named by
    objects must exist or be applied in the same input. Returns [(kind,
    namespace, name, action)]."""
    return [(kind, stored["metadata"].get("namespace"), stored["metadata"]["name"], action)
            for kind, stored, action in write(objs)]


def create(kind, obj: dict, dry_run=False) -> dict:
    """POST: store a new checked object; AlreadyExists if the name is taken."""
    return write([(kind, obj)], must_exist=False, dry_run=dry_run)[0][1]


def update(kind, obj: dict, dry_run=False) -> tuple:
    """PUT: replace a stored object (NotFound if there is none); with a
    resourceVersion, only if the stored one still has it (Conflict).
    Returns (stored, action)."""
    _, stored, action = write([(kind, obj)], must_exist=True,
                              expect_version=obj["metadata"].get("resourceVersion") or None, dry_run=dry_run)[0]
    return stored, action


def write(objs, must_exist=None, expect_version=None, dry_run=False) -> list:
    """The one path of every write (apply, create, update, patch, scale):
    namespaces checked, a Pod's spec kept, every Service's addresses
    allocated against the others before anything is stored; then stored.
    ``dry_run``: all of it but the storing (what would be stored is
    returned; an address allocated for it is kept nowhere).
    Returns [(kind, stored object, action)]."""
    pending = {o["metadata"]["name"] for k, o in objs if k is kinds.NAMESPACE}
    for kind, obj in objs:
        ns = obj["metadata"].get("namespace")
        if ns and not _namespace_exists(ns, pending):
            raise NotFound(f'namespaces "{ns}" not found ({kind.kind} {obj["metadata"]["name"]})')
        if ns and must_exist is not True and _terminating(ns) and store.get(kind, ns, obj["metadata"]["name"]) is None:
            raise Forbidden(f'{kind.plural} "{obj["metadata"]["name"]}" is forbidden: unable to create new content '
                            f"in namespace {ns} because it is being terminated")
    for kind, obj in objs:
        if kind is kinds.POD:
            _check_pod_update(obj)
    objs = [(kind, _custom_update(kind, obj)) if kind.crd else (kind, obj) for kind, obj in objs]
    results = []
    with _allocation_lock(objs):
        _allocate_all(objs)  # every IP and port of the input, before anything is stored
        for kind, obj in objs:
            stored, action = store.put(kind, obj, must_exist, expect_version, dry_run)
            results.append((kind, stored, action))
    return results


def _custom_update(kind, obj: dict) -> dict:
    """A custom resource's write against the stored object: its transition
    rules (GatewayClass's controllerName is immutable, say) checked, and
    its status kept, as the API server keeps a status subresource's on a
    write of the main resource."""
    from minipod.objects import crd
    meta = obj["metadata"]
    old = store.get(kind, meta.get("namespace"), meta["name"])
    if old is None:
        return obj
    try:
        crd.check(obj, kind.kind, kind.api_version.rpartition("/")[2], old)
    except InvalidArgument as e:
        raise InvalidArgument(f'{kind.kind}.{kind.group} "{meta["name"]}" is invalid: {e}') from None
    return {**obj, "status": old["status"]} if old.get("status") and not obj.get("status") else obj


def _allocation_lock(objs):
    """Services take IPs and ports from shared ranges: one apply at a time."""
    import contextlib
    if any(kind is kinds.SERVICE for kind, _ in objs):
        from minipod.objects import allocations
        return allocations.lock()
    return contextlib.nullcontext()


def _allocate_all(objs) -> None:
    """What the API server assigns to each Service of the input, against
    every other service as it will be (stored, or earlier in the input)."""
    if not any(kind is kinds.SERVICE for kind, _ in objs):
        return  # nothing to allocate: no need to read every Service's summary
    from minipod.objects import allocations, services
    current = allocations.stored()  # summaries, not whole objects: one stat per Service
    taken = allocations.Taken(current.values())
    earlier = {}  # Services earlier in this input, as they will be stored
    for kind, obj in objs:
        if kind is not kinds.SERVICE:
            continue
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        old = earlier.get(key) or (store.get(kinds.SERVICE, *key) if key in current else None)
        if key in current:
            taken.remove(current[key])  # its own IP and ports are not "taken by another"
        try:
            services.allocate(obj, old, taken)
        except InvalidArgument as e:
            raise InvalidArgument(f"Service {meta['name']!r}: {e}") from None
        current[key] = allocations.summary(obj)
        taken.add(current[key])
        earlier[key] = obj


def get(kind_name: str, name=None, namespace="default", all_namespaces=False, selector=None) -> tuple:
    """(Kind, objects) as `kubectl get` selects them."""
    from minipod.objects import selectors
    kind = kinds.by_name(kind_name)
    reqs = selectors.parse(selector)
    ns = None if all_namespaces or not kind.namespaced else namespace
    if name:
        obj = store.get(kind, ns, name)
        if obj is None and kind is kinds.NAMESPACE and name in kinds.DEFAULT_NAMESPACES:
            obj = next(o for o in _builtin_namespaces([]) if o["metadata"]["name"] == name)
        if obj is None and kind is kinds.POD:
            from minipod.roles.kubelet import pods
            stored = {o["metadata"]["uid"] for o in store.list_objects(kinds.POD)}
            if any(o["metadata"]["name"] == name and o["metadata"]["namespace"] == ns
                   for o in pods.local_pod_objects(stored)):
                return kind, _with_status(kind, [], name, ns)
        if obj is None:
            raise NotFound(f'{kind.plural} "{name}" not found' + (f" in namespace {ns}" if ns else ""))
        objs = [obj]
    else:
        objs = store.list_objects(kind, ns)
        if kind is kinds.NAMESPACE:
            objs = _builtin_namespaces(objs)
    objs = _with_status(kind, objs, name, ns)
    return kind, [o for o in objs if selectors.matches(reqs, o["metadata"].get("labels"))]


def shown(kind, obj: dict) -> dict:
    """One stored object (as put returned it) as `get` shows it: what a
    write answers with, without reading it back."""
    return _with_status(kind, [obj], obj["metadata"]["name"], obj["metadata"].get("namespace"))[0]


def _with_status(kind, objs, name, ns) -> list:
    """Pods and Deployments as the cluster reports them: live status; and
    the pods of `minipod pod create` / `run` (namespace default) among them;
    with the API's defaults, as an object stored before they existed is
    read back with them."""
    from minipod.objects import defaults
    objs = [defaults.apply(kind.kind, o) for o in objs]
    if kind is kinds.POD:
        from minipod.core import pod
        from minipod.roles.kubelet import pods
        records = pod.store().all()  # one read of the pod records and one of the containers', for both
        containers = pod.containers_by_pod() if records else {}
        objs = pods.with_status(objs, records, containers)
        if name and objs:
            return objs  # a stored Pod of that name: no `pod create` pod can have it (apply refuses)
        # The uids of the objects listed tell which records are of stored Pods: every stored Pod of
        # ``ns`` (or of all, ns None) is among them, and what is of another namespace is not shown.
        stored = {o["metadata"]["uid"] for o in objs}
        local = [o for o in pods.local_pod_objects(stored, records, containers)
                 if (not name or o["metadata"]["name"] == name) and ns in (None, o["metadata"]["namespace"])]
        objs = sorted(objs + local, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
    elif kind is kinds.DEPLOYMENT:
        from minipod.roles.controllers import deployments
        objs = [{**o, "status": deployments.status(o)} for o in objs]
    elif kind is kinds.REPLICASET:
        from minipod.roles.controllers import replicasets
        objs = [{**o, "status": replicasets.status(o)} for o in objs]
    return objs


def _builtin_namespaces(objs) -> list:
    """default, kube-system and kube-public exist whether applied or not."""
    import time
    from minipod import procfs
    have = {o["metadata"]["name"] for o in objs}
    born = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(procfs.boot_time() or time.time()))  # with the node
    extra = [{"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": n, "creationTimestamp": born, "labels": {"kubernetes.io/metadata.name": n}},
              "status": {"phase": "Active"}} for n in kinds.DEFAULT_NAMESPACES if n not in have]
    return sorted(objs + extra, key=lambda o: o["metadata"]["name"])


def delete(kind, namespace, name, expect_uid=None, grace=None) -> dict:
    """Delete one object (only the one with ``expect_uid``, if given) and
    what depends on it; a namespace with everything in it. Returns the
    object as it was (a Pod: as marked for deletion). Pods go gracefully,
    as on a cluster: marked, torn down by the node agent, then deleted by
    it; this waits for that, as `kubectl delete` does."""
    if kind is kinds.NAMESPACE:
        if name in kinds.DEFAULT_NAMESPACES:
            raise InvalidArgument(f'namespace "{name}" is built in and cannot be deleted')
        if store.get(kinds.NAMESPACE, None, name) is not None:
            _empty_namespace(name)
    obj, pending = _delete_one(kind, namespace, name, expect_uid, grace)
    _wait_for_pods(pending)
    return obj


def _delete_one(kind, namespace, name, expect_uid=None, grace=None) -> tuple:
    """(the object deleted, or marked if a Pod; the Pods marked for
    deletion with it, whose teardown is still to wait for)."""
    from minipod.roles.controllers import deployments
    from minipod.roles.kubelet import deletion
    ns = namespace if kind.namespaced else None
    obj = store.get(kind, ns, name)
    if obj is None and kind is kinds.POD and namespace == "default":
        from minipod.core import pod as podmod
        rec = podmod.store().find(name)
        if rec is not None and rec["name"] == name and not rec.get("k8s"):
            raise InvalidArgument(f'pod "{name}" was made by `minipod pod create` or `run`; '
                                  "remove it with `minipod pod rm -f`")
    if obj is not None and kind is kinds.POD:
        if expect_uid and obj["metadata"]["uid"] != expect_uid:
            raise Conflict(f'Precondition failed for {kind.plural} "{name}": UID in precondition: '
                           f'{expect_uid}, UID in object meta: {obj["metadata"]["uid"]}')
        marked = deletion.terminate(obj, grace)
        if marked is not None:
            return marked, [marked]
        obj = None
    if obj is None or not store.delete(kind, ns, name, expect_uid):
        raise NotFound(f'{kind.plural} "{name}" not found')
    pending = []
    if kind is kinds.DEPLOYMENT:  # the garbage collector's part: its ReplicaSets and their pods go with it
        from minipod.roles.controllers import replicasets
        doomed = deployments.owned_pods(obj)
        for rs in replicasets.owned(kinds.REPLICASET, obj):
            store.delete(kinds.REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"], rs["metadata"]["uid"])
        pending = [m for m in (deletion.terminate(p, grace) for p in doomed) if m]
    elif kind is kinds.REPLICASET:
        from minipod.roles.controllers import replicasets
        pending = [m for m in (deletion.terminate(p, grace) for p in replicasets.owned_pods(obj)) if m]
    return obj, pending


def _wait_for_pods(marked: list) -> None:
    """Until the node agent has torn down and deleted every marked pod
    (side by side): the longest grace period and a margin for the network's
    teardown. Past that the delete returns all the same; kubectl waits on."""
    if not marked:
        return
    from minipod.roles import agent
    from minipod.roles.kubelet import deletion
    def keep_alive():  # it finishes deletions: one that died (or never ran) is started again
        if agent.running_pid() is None:
            agent.ensure_running()
    keep_alive()
    deletion.wait_deleted(marked, max(deletion.deletion_grace(m) for m in marked) + 60.0, keep_alive)


def terminate_namespace(name: str) -> dict:
    """The first half of a namespace's deletion through the API: the
    namespace marked Terminating (no new object may go in); the namespace
    controller's part (delete) follows. Returns the namespace as marked."""
    if name in kinds.DEFAULT_NAMESPACES:
        raise InvalidArgument(f'namespace "{name}" is built in and cannot be deleted')
    obj = store.mark_deleted(kinds.NAMESPACE, None, name, status={"phase": "Terminating"})
    if obj is None:
        raise NotFound(f'namespaces "{name}" not found')
    return obj


def _terminating(namespace: str) -> bool:
    obj = store.get(kinds.NAMESPACE, None, namespace) if namespace not in kinds.DEFAULT_NAMESPACES else None
    return bool(obj and obj["metadata"].get("deletionTimestamp"))


def _empty_namespace(name: str) -> None:
    """What the namespace controller does: every object in the namespace
    goes (Deployments first, so that their pods go with them); the pods'
    teardowns all run at once."""
    first = (kinds.DEPLOYMENT, kinds.REPLICASET)
    order = list(first) + [k for k in kinds.KINDS.values() if k.namespaced and k not in first]
    pending = []
    for kind in order:
        for obj in store.list_objects(kind, name):
            try:
                pending += _delete_one(kind, name, obj["metadata"]["name"])[1]
            except NotFound:
                pass  # went with its owner
    _wait_for_pods(pending)


def scale(kind_name: str, namespace: str, name: str, replicas: int) -> None:
    """`scale deployment/NAME --replicas N`: a new spec.replicas."""
    kind = kinds.by_name(kind_name)
    if kind not in (kinds.DEPLOYMENT, kinds.REPLICASET):
        raise InvalidArgument(f"cannot scale {kind.plural}: only deployments and replicasets")
    obj = store.get(kind, namespace, name)
    if obj is None:
        raise NotFound(f'{kind.plural}.apps "{name}" not found')
    obj = store.desired(obj)
    obj["spec"]["replicas"] = replicas
    write([(kind, obj)], must_exist=True)
