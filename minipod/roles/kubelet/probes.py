"""Readiness probes, run by the agent as the kubelet runs them: exec in
the container, a TCP connect or an HTTP GET to the pod's IP, every
periodSeconds after initialDelaySeconds; successThreshold successes make a
container ready, failureThreshold failures unready. Until its first
success a container with a probe is not ready (and not an endpoint).

The verdict is kept in the container's record ("probe": {"start", "ready",
"successes", "failures"}) for the start it belongs to, so a restarted
container is unready again until its probe passes.
"""

import http.client
import socket
import time

from minipod.core import container
from minipod.roles.kubelet import reporting


def _port(value, ctr_spec) -> int:
    if isinstance(value, int):
        return value
    for p in ctr_spec.get("ports", []):
        if p.get("name") == value:
            return p["containerPort"]
    raise ValueError(f"no container port named {value!r}")


def _exec(rec: dict, command: list, timeout: float) -> tuple:
    """An exec probe: the command exits 0 within ``timeout`` seconds (one
    that hangs is killed: a failure, as one that cannot run)."""
    from minipod.core import execution
    from minipod.errors import MinipodError
    try:
        code, out, err = execution.exec_sync(rec["id"], command, timeout)
    except (MinipodError, OSError) as e:  # timed out, the container went away, or the command is missing
        return False, str(e)
    text = (out + err).decode(errors="replace").strip()  # the kubelet's message is what the command wrote
    return code == 0, text or f"command {command!r} exited with {code}"


def _tcp(host: str, port: int, timeout: float) -> tuple:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as e:
        return False, f"dial tcp {host}:{port}: {_why(e)}"


def _why(e: OSError) -> str:
    """Go's wording of a failed connect, as the kubelet's messages have it."""
    if isinstance(e, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "i/o timeout"
    return f"connect: {e.strerror or e}".lower()


def _http(host: str, port: int, path: str, timeout: float) -> tuple:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "kube-probe/minipod"})
        status = conn.getresponse().status
        return 200 <= status < 400, f"HTTP probe failed with statuscode: {status}"
    except OSError as e:
        return False, f'Get "http://{host}:{port}{path or "/"}": dial tcp {host}:{port}: {_why(e)}'
    except http.client.HTTPException as e:
        return False, f'Get "http://{host}:{port}{path or "/"}": {e}'
    finally:
        conn.close()


def run(probe: dict, ctr_spec: dict, rec: dict, pod_ip: str) -> tuple:
    """One probe: (success, why it failed, as the kubelet says it)."""
    timeout = probe.get("timeoutSeconds", 1)
    try:
        if "exec" in probe:
            return _exec(rec, probe["exec"]["command"], timeout)
        if "tcpSocket" in probe:
            return _tcp(probe["tcpSocket"].get("host") or pod_ip, _port(probe["tcpSocket"]["port"], ctr_spec), timeout)
        get = probe["httpGet"]
        return _http(get.get("host") or pod_ip, _port(get["port"], ctr_spec), get.get("path", "/"), timeout)
    except ValueError as e:
        return False, str(e)


def is_ready(rec: dict, ctr_spec: dict) -> bool:
    """Running, and (with a probe) passed for this very start."""
    if rec.get("status") != "running":
        return False
    if not ctr_spec.get("readinessProbe"):
        return True
    verdict = rec.get("probe") or {}
    return verdict.get("start") == rec.get("start") and verdict.get("ready", False)


def step(rec: dict, ctr_spec: dict, pod_ip: str, schedule: dict, now: float, log):
    """Probe one running container if its time has come; return when the
    next probe is due."""
    probe = ctr_spec["readinessProbe"]
    key = (rec["id"], rec.get("start"))
    due = schedule.get(key)
    if due is None:
        due = schedule[key] = (rec.get("started") or now) + probe.get("initialDelaySeconds", 0)
    if now < due:
        return due
    verdict = dict(rec.get("probe") or {})
    if verdict.get("start") != rec.get("start"):
        verdict = {"start": rec.get("start"), "ready": False, "successes": 0, "failures": 0}
    ok, why = run(probe, ctr_spec, rec, pod_ip)
    if not ok:
        reporting.unhealthy(rec, f"Readiness probe failed: {why}")
    if ok:
        verdict.update(successes=verdict["successes"] + 1, failures=0)
        if verdict["successes"] >= probe.get("successThreshold", 1) and not verdict["ready"]:
            verdict.update(ready=True, since=time.time())  # readiness.py: Ready once a pass covered it
    else:
        verdict.update(failures=verdict["failures"] + 1, successes=0)
        if verdict["failures"] >= probe.get("failureThreshold", 3):
            verdict["ready"] = False
    if verdict != rec.get("probe"):
        if verdict["ready"] != (rec.get("probe") or {}).get("ready"):
            log(f"container {rec['name']}: readiness probe {'passed' if verdict['ready'] else 'failed'}")
        container.update_fields(rec["id"], probe=verdict)
    schedule[key] = time.time() + probe.get("periodSeconds", 10)
    return schedule[key]
