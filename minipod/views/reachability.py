"""Who may talk to whom in one namespace: the reachability matrix of
`minipod ui`, from the rules (what the policy chains decide for each pair,
walked as the kernel walks them: roles/policy/evaluate.py) and, on demand,
from real probes (a TCP connection from each pod's network namespace to
each other pod's port). Each cell says why."""

import json
import subprocess
import sys

from minipod.objects import kinds, store

TIMEOUT = 1.0  # a refused connection fails at once (REJECT); a silent one is given this
PROBE = ("import json, socket, sys\nout = []\nfor ip, port in json.loads(sys.argv[1]):\n"
         "    s = socket.socket(); s.settimeout(%s)\n    try:\n        s.connect((ip, port)); out.append(True)\n"
         "    except OSError:\n        out.append(False)\n    s.close()\nprint(json.dumps(out))\n" % TIMEOUT)


def _port(obj):
    """The port a column is about: the destination's first declared TCP
    port, or None (then the rules are read for port 80, and no probe is
    sent: a refusal would only say that nothing listens)."""
    for ctr in (obj.get("spec") or {}).get("containers") or []:
        for p in ctr.get("ports") or []:
            if p.get("protocol", "TCP") == "TCP":
                return p["containerPort"]
    return None


def _probe(pause_pid: int, targets: list) -> list:
    """[whether each (ip, port) accepted a connection] from that pod's network namespace."""
    proc = subprocess.run(["nsenter", f"--net=/proc/{pause_pid}/ns/net", sys.executable, "-c", PROBE,
                           json.dumps(targets)], capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout) if proc.returncode == 0 else [None] * len(targets)


def matrix(namespace: str, probe: bool = False) -> dict:
    """{"namespace", "pods": [{"name", "ip", "port"}], "cells": [[{"rules", "why", "probe"}]]}:
    row = source, column = destination; "probe" None where none was sent."""
    from minipod.core import pod
    from minipod.roles import policy
    from minipod.roles.policy import evaluate, resolve
    everyone = policy.node_pods()
    mine = [p for p in everyone if p.namespace == namespace]
    objs = {o["metadata"]["name"]: o for o in store.list_objects(kinds.POD, namespace)}
    ns_labels = {o["metadata"]["name"]: o["metadata"].get("labels") or {}
                 for o in store.list_objects(kinds.NAMESPACE)}
    plan = resolve.plan(store.list_objects(kinds.NETWORK_POLICY), everyone, ns_labels)
    ports = {p.name: _port(objs.get(p.name) or {}) for p in mine}
    cells = [[dict(zip(("rules", "why"), evaluate.allowed(plan, src, dst, ports[dst.name] or 80)), probe=None)
              for dst in mine] for src in mine]
    if probe:
        pauses = {(r["k8s"]["namespace"], r["k8s"]["name"]): r["pause"]["pid"]
                  for r in pod.store().all() if r.get("k8s") and r.get("pause")}
        probed = [j for j, dst in enumerate(mine) if ports[dst.name]]
        for i, src in enumerate(mine):
            got = _probe(pauses[(namespace, src.name)], [[mine[j].ip, ports[mine[j].name]] for j in probed])
            for j, answer in zip(probed, got):
                cells[i][j]["probe"] = answer
    return {"namespace": namespace, "pods": [{"name": p.name, "ip": p.ip, "port": ports[p.name]} for p in mine],
            "cells": cells}
