"""kubectl's waiting verbs: `wait --for=condition=Ready|delete` on pods and
`rollout status` on Deployments. Both poll the records (a CLI call is
short-lived; the event-driven part is the agent's)."""

import time

from minipod.errors import InvalidArgument, NotFound, TimedOut

INTERVAL = 0.1


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimedOut(f"timed out waiting for {what}")
        time.sleep(INTERVAL)


def _pod_ready(pod_obj: dict) -> bool:
    conds = (pod_obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def parse_refs(refs, selector, all_of_kind: bool):
    """kubectl wait's objects: ("pod"|"deployment", [names]). Forms: KIND/NAME...,
    KIND NAME..., KIND with -l or --all; pods when only -l or --all is given."""
    from minipod.objects import kinds

    def kind_of(text):
        which = kinds.by_name(text)
        if which is kinds.POD or which is kinds.DEPLOYMENT or which.crd:
            return which.kind.lower()
        raise InvalidArgument(f"wait handles pods, deployments and the Gateway API's kinds, not {text!r}")
    kind, names = None, []
    for ref in refs:
        k, slash, name = ref.partition("/")
        if not slash and kind is not None:
            names.append(ref)  # KIND NAME NAME...
            continue
        this = kind_of(k)
        if kind not in (None, this) or (slash and not name):
            raise InvalidArgument(f"wait takes objects of one kind, each with a name: {ref!r}")
        kind = this
        if slash:
            names.append(name)
    if kind is None and (selector is not None or all_of_kind):
        kind = "pod"  # `wait -l SEL` without a kind: pods, as minipod always took it
    if kind is None:
        raise InvalidArgument("wait needs pod/NAME, pod -l SELECTOR, pods --all or deployment/NAME")
    if not names and selector is None and not all_of_kind:
        raise InvalidArgument(f"wait needs a {kind} NAME, -l SELECTOR or --all")
    if names and (selector is not None or all_of_kind):
        raise InvalidArgument("wait takes names, or -l / --all, not both")
    return kind, names


def wait_deployments(names, namespace: str, condition: str, timeout: float) -> list:
    """`wait --for=condition=Available deployment/NAME`: every replica
    it wants ready (maxUnavailable 0, as minipod's rollouts run)."""
    from minipod.objects import kinds, store
    from minipod.roles.controllers import deployments
    if condition.lower() != "condition=available" and condition.lower() != "delete":
        raise InvalidArgument(f"unsupported --for {condition!r} for deployments: use condition=Available or delete")

    def met(name):
        dep = store.get(kinds.DEPLOYMENT, namespace, name)
        if condition.lower() == "delete":
            return dep is None
        if dep is None:
            raise NotFound(f'deployments.apps "{name}" not found')
        st = deployments.status(dep)
        return st["availableReplicas"] >= dep["spec"].get("replicas", 1)
    if not names:
        names = [d["metadata"]["name"] for d in store.list_objects(kinds.DEPLOYMENT, namespace)]
    # One deadline for all, as kubectl's --timeout.
    _until(lambda: all(met(n) for n in names), timeout, "the condition on " + ", ".join(f"deployments/{n}" for n in names))
    return names


def wait_conditions(kind_name: str, names, namespace: str, condition: str, timeout: float) -> list:
    """`wait --for=condition=TYPE KIND/NAME` on a kind whose status has
    conditions (the Gateway API's: Programmed, Accepted), or
    --for=delete: until each named object's condition TYPE is True (the
    type matched without regard to case, as kubectl does). Returns the names."""
    from minipod.objects import kinds, store
    kind = kinds.by_name(kind_name)
    ns = namespace if kind.namespaced else None
    wanted = condition.lower()
    if wanted != "delete" and not wanted.startswith("condition="):
        raise InvalidArgument(f"unsupported --for {condition!r}: use condition=TYPE or delete")
    for name in names:
        if wanted != "delete" and store.get(kind, ns, name) is None:
            raise NotFound(f'{kind.plural}.{kind.group} "{name}" not found')

    def met(name):
        obj = store.get(kind, ns, name)
        if wanted == "delete":
            return obj is None
        conds = ((obj or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type", "").lower() == wanted.split("=", 1)[1] and c.get("status") == "True" for c in conds)
    _until(lambda: all(met(n) for n in names), timeout,
           "the condition on " + ", ".join(f"{kind.plural}/{n}" for n in names))
    return list(names)


def wait_pods(names, selector, namespace: str, condition: str, timeout: float) -> list:
    """Wait until every named (or selected) pod meets ``condition``
    ("condition=Ready" or "delete"); returns the names. A named pod that
    does not exist yet is waited for too (the agent makes pods after apply
    returns), until the timeout."""
    from minipod.api import verbs
    if condition.lower() not in ("condition=ready", "delete"):
        raise InvalidArgument(f"unsupported --for {condition!r}: use condition=Ready or delete")
    if not names and selector is None:
        raise InvalidArgument("wait needs pod/NAME or -l SELECTOR")

    def current():
        if names:
            found = []
            for n in names:
                try:
                    found += verbs.get("pods", n, namespace)[1]
                except NotFound:
                    pass
            return found
        return verbs.get("pods", None, namespace, selector=selector)[1]

    if condition.lower() == "delete":
        initial = [o["metadata"]["name"] for o in current()] or list(names)
        _until(lambda: not current(), timeout, "the deletion of " + ", ".join(f"pods/{n}" for n in initial))
        return initial
    shown = ", ".join(f"pods/{n}" for n in names) if names else f"pods with {selector}"
    pods = _until(lambda: (lambda p: p if p and len(p) >= len(names) and all(_pod_ready(o) for o in p)
                           else None)(current()),
                  timeout, f"the condition on {shown}")
    return [o["metadata"]["name"] for o in pods]


def rollout_status(namespace: str, name: str, timeout: float, progress) -> None:
    """Wait until a Deployment's pods are all of its template, ready and as
    many as it wants; ``progress(text)`` is told what it waits for."""
    from minipod.objects import kinds, store
    from minipod.roles.controllers import deployments
    last = [None]

    def done():
        dep = store.get(kinds.DEPLOYMENT, namespace, name)
        if dep is None:
            raise NotFound(f'deployments.apps "{name}" not found')
        want = dep["spec"].get("replicas", 1)
        st = deployments.status(dep)
        if st["updatedReplicas"] < want:
            text = f"{st['updatedReplicas']} out of {want} new replicas have been updated..."
        elif st["replicas"] > st["updatedReplicas"]:
            text = f"{st['replicas'] - st['updatedReplicas']} old replicas are pending termination..."
        elif st["readyReplicas"] < want or st["replicas"] != want:
            text = f"{st['readyReplicas']} of {want} updated replicas are available..."
        else:
            return True
        if text != last[0]:
            progress(f'Waiting for deployment "{name}" rollout to finish: {text}')
            last[0] = text
        return False
    _until(done, timeout, f'deployment "{name}" rollout')
