"""The real kubectl, unchanged, against minipod's Kubernetes API: the
course's Service and Ingress (docs/examples/tutorial.yaml), exec, logs -f,
port-forward carrying real bytes, scale and rollout status, get -w, the
creation helpers, explain, strict field validation and optimistic
concurrency. Every test runs once per kubectl generation: the one on PATH
(current on the development machines) and Debian's 1.20 (what a learner's
Debian 12 VM gets), unpacked by scripts/setup-kubectl."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import REPO, TEST_ENV, TEST_ROOT
from tests.integration.conftest import mp, mp_json, sh, wait_for

KUBECONFIG = TEST_ROOT / "etc" / "admin.kubeconfig"
DEBIAN_KUBECTL = "/var/cache/minipod/kubectl-1.20/root/usr/bin/kubectl"
CURRENT_KUBECTL = "/var/cache/minipod/kubectl-current/kubectl"  # 1.35, from PyPI (scripts/setup-kubectl)
# The course's ClusterIP, moved into the suite's own service range.
COURSE_IP, TEST_IP = "10.107.35.208", "10.234.35.208"
FORWARD_PORT = 18556


def _newest_beside(path):
    """The newest kubectl.1.N beside ``path`` (the development machines
    keep 1.27 … 1.33 there), or None."""
    if not path:
        return None
    folder = os.path.dirname(os.path.realpath(path))
    found = [(int(m.group(1)), os.path.join(folder, f)) for f in os.listdir(folder)
             if (m := re.fullmatch(r"kubectl\.1\.(\d+)", f))]
    return max(found)[1] if found else None


def _binaries() -> list:
    """(id, path) of each kubectl generation, once each: the one on PATH,
    the newest beside it, a current upstream one (x86_64: scripts/setup-kubectl
    installs 1.35) and Debian's 1.20."""
    out, seen = [], set()
    on_path = shutil.which("kubectl")
    import platform
    current = CURRENT_KUBECTL if platform.machine() == "x86_64" else None  # no registry has another arch's
    for label, path in (("path", on_path), ("newest", _newest_beside(on_path)), ("current", current),
                        ("debian-1.20", DEBIAN_KUBECTL)):
        if label in ("newest", "current") and path is None:
            continue
        if path is None:
            path = "<no kubectl on PATH: scripts/setup-kubectl installs one>"
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            out.append(pytest.param(path, id=label))
    return out


@pytest.fixture(scope="module")
def api():
    """minipod's API server for the suite's root, and its kubeconfig; the
    nginx image of the course's Deployment."""
    from tests.integration.test_image_formats import _built
    mp("image", "import", _built("nginx"))
    mp("kubeconfig")  # starts the server and writes the kubeconfig
    yield KUBECONFIG
    mp("api", "stop")
    mp("image", "rm", "nginx", check=False)


@pytest.fixture(params=_binaries())
def kubectl(request, api, tmp_path):
    binary = request.param
    assert os.access(binary, os.X_OK), f"{binary}: not there (scripts/test runs scripts/setup-kubectl)"
    env = {**os.environ, **TEST_ENV, "KUBECONFIG": str(api), "HOME": str(tmp_path)}  # its own discovery cache

    def run(*args, check=True, timeout=90, input=None):
        proc = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=timeout,
                              input=input, cwd=tmp_path)
        assert not check or proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc
    run.binary, run.env = binary, env
    return run


def _tutorial(tmp_path):
    path = tmp_path / "tutorial.yaml"
    path.write_text((REPO / "docs" / "examples" / "tutorial.yaml").read_text().replace(COURSE_IP, TEST_IP))
    return path


def _spawn(kubectl, *args):
    return subprocess.Popen([kubectl.binary, *args], env=kubectl.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_the_course_service_and_ingress_through_kubectl(kubectl, tmp_path):
    manifest = _tutorial(tmp_path)
    out = kubectl("apply", "-f", str(manifest)).stdout
    assert out.splitlines() == ["namespace/tutorial created", "deployment.apps/nginx created",
                                "service/nginx created", "ingress.networking.k8s.io/nginx created"]
    kubectl("rollout", "status", "deployment/nginx", "-n", "tutorial", "--timeout=90s", timeout=120)
    rows = kubectl("get", "pods", "-o", "wide", "-n", "tutorial").stdout.splitlines()
    assert rows[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"], rows
    pods = [r.split() for r in rows[1:]]
    assert len(pods) == 2 and all(p[1] == "1/1" and p[2] == "Running" for p in pods), rows
    ips = sorted(p[5] for p in pods)
    assert all(ip.startswith("10.231.0.") for ip in ips)
    wait_for(lambda: f"{ips[0]}:80,{ips[1]}:80" in kubectl("describe", "svc", "nginx", "-n", "tutorial").stdout
             or f"{ips[1]}:80,{ips[0]}:80" in kubectl("describe", "svc", "nginx", "-n", "tutorial").stdout,
             timeout=30, what="both endpoints")
    described = kubectl("describe", "svc", "nginx", "-n", "tutorial").stdout
    assert re.search(rf"^IP:\s+{re.escape(TEST_IP)}$", described, re.M), described
    assert re.search(r"^Port:\s+<unset>\s+8080/TCP$", described, re.M), described
    assert re.search(r"^TargetPort:\s+80/TCP$", described, re.M), described
    # the controller publishes the node's address in the object's status, as ingress-nginx does:
    # what `kubectl wait --for=jsonpath` and every client reading the object see (no new generation)
    published = "{.status.loadBalancer.ingress[0].ip} {.metadata.generation}"
    wait_for(lambda: kubectl("get", "ingress", "nginx", "-n", "tutorial", "-o", f"jsonpath={published}").stdout
             == "10.231.0.1 1", timeout=30, what="the Ingress's published address")
    ingress = kubectl("get", "ingress", "-n", "tutorial").stdout.splitlines()
    assert ingress[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert ingress[1].split()[:4] == ["nginx", "nginx", "hello-world.info", "10.231.0.1"]
    # into a pod, and the Service by its name through cluster DNS
    page = kubectl("exec", "-n", "tutorial", "deploy/nginx", "--", "wget", "-qO-", "http://nginx:8080/").stdout
    assert "Welcome to nginx" in page
    # port-forward to the Service: real bytes from a pod behind it
    forward = _spawn(kubectl, "port-forward", "-n", "tutorial", "svc/nginx", f"{FORWARD_PORT}:8080")
    try:
        def fetched():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{FORWARD_PORT}/", timeout=3) as r:
                    return "Welcome to nginx" in r.read().decode()
            except OSError:
                return False
        wait_for(fetched, timeout=20, what="a page through port-forward")
        assert fetched()  # a second connection through the same session
    finally:
        forward.terminate()
        forward.wait(10)
    # scale, and follow the rollout
    assert kubectl("scale", "deployment/nginx", "-n", "tutorial", "--replicas=3").stdout.strip() == \
        "deployment.apps/nginx scaled"
    kubectl("rollout", "status", "deployment/nginx", "-n", "tutorial", "--timeout=90s", timeout=120)
    assert len(kubectl("get", "pods", "-n", "tutorial", "-o", "name").stdout.split()) == 3
    deleted = kubectl("delete", "-f", str(manifest), timeout=120).stdout
    assert 'namespace "tutorial" deleted' in deleted
    assert "tutorial" not in kubectl("get", "ns").stdout
    # the pods went with the namespace: their teardown by the node agent may still be under way (under load,
    # seconds): a bound, not a sleep
    wait_for(lambda: mp("pod", "ls", "-q").stdout == "", timeout=60, what="the namespace's pods torn down")


def test_get_watch_sees_a_pod_come_and_go(kubectl):
    watch = _spawn(kubectl, "get", "pods", "--watch", "--output-watch-events")
    try:
        time.sleep(1.5)  # the watch is established (its list answered) before the pod exists
        kubectl("run", "blink", "--image=busybox", "--restart=Never", "--", "sleep", "300")
        wait_for(lambda: kubectl("get", "pod", "blink", "-o", "jsonpath={.status.phase}").stdout == "Running",
                 timeout=30, what="blink running")
        time.sleep(2)  # the server tells watchers of a status it sees every half second
        kubectl("delete", "pod", "blink", "--grace-period=1", timeout=60)
        time.sleep(1.5)
    finally:
        watch.terminate()
        out, _ = watch.communicate(timeout=10)
    events = [l.split()[:2] for l in out.splitlines() if "blink" in l]
    kinds = [e[0] for e in events]
    assert kinds[0] == "ADDED" and "DELETED" in kinds, out
    assert any("Running" in l for l in out.splitlines() if l.startswith("MODIFIED")), out
    # a graceful delete, as on a cluster: marked (Terminating) first, gone once its containers are
    lines = [l for l in out.splitlines() if "blink" in l]
    terminating = [i for i, l in enumerate(lines) if l.startswith("MODIFIED") and "Terminating" in l]
    assert terminating and terminating[0] < kinds.index("DELETED"), out


def test_logs_follow_exec_exit_codes_and_cp(kubectl, tmp_path):
    kubectl("run", "talker", "--image=busybox", "--", "sh", "-c",
            "echo first; i=0; while true; do i=$((i+1)); echo line $i; sleep 0.3; done")
    assert kubectl("wait", "--for=condition=Ready", "pod", "-l", "run=talker", "--timeout=60s",
                   timeout=90).stdout.strip() == "pod/talker condition met"
    follow = _spawn(kubectl, "logs", "-f", "talker")
    try:
        lines = [follow.stdout.readline() for _ in range(4)]
    finally:
        follow.terminate()
        follow.wait(10)
    assert lines[0] == "first\n" and lines[3].startswith("line "), lines
    assert kubectl("logs", "talker", "--tail=1").stdout.startswith("line ")
    # a time per line, as the kubelet keeps them: --timestamps shows it, --since and --since-time filter by it
    stamped = kubectl("logs", "talker", "--timestamps", "--tail=2").stdout.splitlines()
    assert len(stamped) == 2 and all(re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z line \d+", l)
                                     for l in stamped), stamped
    assert kubectl("logs", "talker", "--limit-bytes=5").stdout == "first"
    time.sleep(1.5)
    recent = kubectl("logs", "talker", "--since=1s").stdout.splitlines()
    assert recent and "first" not in recent and len(recent) <= 5, recent  # 0.3 s a line: the last second's few
    first_stamp = kubectl("logs", "talker", "--timestamps").stdout.split(None, 1)[0]
    assert kubectl("logs", "talker", f"--since-time={first_stamp}").stdout.startswith("first\n")
    assert mp("logs", "talker").stdout.startswith("first\nline 1\n")  # docker's verb: the lines as written
    proc = kubectl("exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (proc.returncode, proc.stdout, "err" in proc.stderr) == (3, "out\n", True), proc.stderr
    assert kubectl("exec", "-i", "talker", "--", "cat", input="through stdin\n").stdout == "through stdin\n"
    # kubectl cp, both ways: kubectl runs tar in the container through exec
    (tmp_path / "to-pod.txt").write_text("copied in\n")
    kubectl("cp", str(tmp_path / "to-pod.txt"), "talker:/tmp/in.txt")
    assert kubectl("exec", "talker", "--", "cat", "/tmp/in.txt").stdout == "copied in\n"
    kubectl("cp", "talker:/tmp/in.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "copied in\n"
    # a terminal: what the shell sees is a tty
    tty = subprocess.run(["script", "-qec", f"{kubectl.binary} exec -it talker -- sh -c 'tty; echo done'",
                          "/dev/null"], env=kubectl.env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert "/dev/pts/" in tty.stdout and "done" in tty.stdout, tty.stdout + tty.stderr
    missing = kubectl("exec", "nosuchpod", "--", "true", check=False)
    assert missing.returncode == 1 and 'pods "nosuchpod" not found' in missing.stderr
    waiter = _spawn(kubectl, "wait", "--for=delete", "pod/talker", "--timeout=60s")
    time.sleep(1.5)  # waiting before the pod goes (minipod's delete returns once it is gone)
    kubectl("delete", "pod", "talker", "--grace-period=1")
    out, err = waiter.communicate(timeout=90)
    assert waiter.returncode == 0 and "condition met" in out, out + err


def _on_a_terminal(argv, env, dialogue, timeout=90.0):
    """Run ``argv`` on a terminal of its own and hold ``dialogue`` with it:
    for each (awaited, typed), wait until the output so far shows
    ``awaited``, then type ``typed`` (a user at a keyboard: no sleeps that a
    slow machine outruns). Returns (all output, exit code)."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    seen, deadline, steps = b"", time.monotonic() + timeout, list(dialogue)
    try:
        while True:
            if steps and steps[0][0].encode() in seen:
                os.write(fd, steps.pop(0)[1].encode())
            left = deadline - time.monotonic()
            assert left > 0, f"{argv[:3]}: waited {timeout}s for {steps[:1]}; output: {seen.decode(errors='replace')}"
            if select.select([fd], [], [], min(left, 1.0))[0]:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the terminal's other side has closed
                    chunk = b""
                if not chunk:
                    break
                seen += chunk
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return seen.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def test_run_it_rm_attaches_to_the_containers_own_terminal(kubectl):
    out, code = _on_a_terminal(
        [kubectl.binary, "run", "-it", "--rm", "tryit", "--image=busybox", "--restart=Never", "--", "sh"],
        kubectl.env, [("try pressing enter", "\n"), ("# ", "echo inside-$((6*7))\n"), ("inside-42", "exit 3\n")])
    assert "inside-42" in out and 'pod "tryit" deleted' in out, out
    assert code == 3  # the shell's own exit code, as kubectl reports it
    assert "tryit" not in kubectl("get", "pods").stdout
    # without a terminal: stdin through, the output back
    piped = kubectl("run", "-i", "--rm", "tryi", "--image=busybox", "--restart=Never", "--",
                    "sh", "-c", "read x; echo got:$x", input="hello-stdin\n", timeout=90)
    assert "got:hello-stdin" in piped.stdout


HISTORY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: hist}
spec:
  replicas: 2
  selector: {matchLabels: {app: hist}}
  template:
    metadata: {labels: {app: hist}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: busybox, command: ["sleep", "3600"]}
"""


def test_replicasets_rollout_history_undo_and_pause(kubectl, tmp_path):
    """A Deployment owns a ReplicaSet per template, as on a cluster: `get rs`,
    `rollout history` with the change-cause, `rollout undo` (to the previous
    revision, then to a numbered one) going back to the old ReplicaSet, `rollout
    pause` holding a template change until `resume`, describe's NewReplicaSet
    line and the controllers' Events."""
    manifest = tmp_path / "hist.yaml"
    manifest.write_text(HISTORY)
    kubectl("apply", "-f", str(manifest))

    def replicasets():
        items = json.loads(kubectl("get", "rs", "-l", "app=hist", "-o", "json").stdout)["items"]
        return {r["metadata"]["name"]: (r["spec"]["replicas"], r["metadata"]["annotations"][
            "deployment.kubernetes.io/revision"]) for r in items}

    def rolled_out():
        kubectl("rollout", "status", "deployment/hist", "--timeout=90s", timeout=120)
    rolled_out()
    [first] = replicasets()
    assert replicasets() == {first: (2, "1")}
    assert kubectl("get", "rs", first).stdout.split()[5:9] == [first, "2", "2", "2"]
    kubectl("annotate", "deployment/hist", "kubernetes.io/change-cause=greeting hi")
    kubectl("set", "env", "deployment/hist", "GREETING=hi")
    rolled_out()
    [second] = set(replicasets()) - {first}
    assert replicasets() == {first: (0, "1"), second: (2, "2")}
    history = kubectl("rollout", "history", "deployment/hist").stdout
    assert re.search(r"\n1\s+<none>\n2\s+greeting hi\n", history), history
    second_one = kubectl("rollout", "history", "deployment/hist", "--revision=2").stdout
    assert "with revision #2" in second_one and re.search(r"GREETING:\s+hi", second_one), second_one
    described = kubectl("describe", "deployment", "hist").stdout
    assert f"NewReplicaSet:   {second} (2/2 replicas created)" in described, described
    assert f"Scaled up replica set {second}" in described and f"Scaled down replica set {first}" in described
    assert "Created pod: " in kubectl("describe", "rs", second).stdout
    kubectl("rollout", "undo", "deployment/hist")  # back to revision 1: its ReplicaSet, now revision 3
    rolled_out()
    assert replicasets() == {first: (2, "3"), second: (0, "2")}
    kubectl("rollout", "undo", "deployment/hist", "--to-revision=2")
    rolled_out()
    assert replicasets() == {first: (0, "3"), second: (2, "4")}
    kubectl("rollout", "pause", "deployment/hist")
    kubectl("set", "env", "deployment/hist", "GREETING=held")
    time.sleep(2)  # a paused Deployment makes no ReplicaSet, however long it waits
    assert set(replicasets()) == {first, second}
    kubectl("rollout", "resume", "deployment/hist")
    rolled_out()
    assert len(replicasets()) == 3
    kubectl("delete", "deployment", "hist", timeout=120)
    assert replicasets() == {} and "hist" not in kubectl("get", "pods").stdout


def test_creation_helpers_rollout_restart_and_expose(kubectl, tmp_path):
    kubectl("create", "namespace", "helpers")
    kubectl("create", "configmap", "settings", "-n", "helpers", "--from-literal=mode=fast")
    assert json.loads(kubectl("get", "cm", "settings", "-n", "helpers", "-o", "json").stdout)["data"] == \
        {"mode": "fast"}
    key, crt = tmp_path / "tls.key", tmp_path / "tls.crt"
    sh(f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {key} -out {crt} -days 1 -subj /CN=helpers.test")
    kubectl("create", "secret", "tls", "site", "-n", "helpers", f"--cert={crt}", f"--key={key}")
    assert kubectl("get", "secret", "site", "-n", "helpers").stdout.split()[5:7] == ["kubernetes.io/tls", "2"]
    kubectl("create", "deployment", "web", "-n", "helpers", "--image=busybox", "--",
            "sh", "-c", "mkdir -p /w && hostname > /w/index.html && exec httpd -f -p 8080 -h /w")
    kubectl("rollout", "status", "deployment/web", "-n", "helpers", "--timeout=90s", timeout=120)
    kubectl("expose", "deployment", "web", "-n", "helpers", "--port=8080")
    svc = json.loads(kubectl("get", "svc", "web", "-n", "helpers", "-o", "json").stdout)
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["ports"][0]["port"] == 8080
    before = kubectl("get", "pods", "-n", "helpers", "-o", "name").stdout.split()
    kubectl("rollout", "restart", "deployment/web", "-n", "helpers")
    kubectl("rollout", "status", "deployment/web", "-n", "helpers", "--timeout=90s", timeout=120)
    wait_for(lambda: set(kubectl("get", "pods", "-n", "helpers", "-o", "name").stdout.split()).isdisjoint(before),
             timeout=60, what="every pod replaced")
    kubectl("delete", "namespace", "helpers", timeout=120)


def test_explain_strict_fields_and_conflicts(kubectl, tmp_path):
    explained = kubectl("explain", "pod.spec.containers").stdout
    assert "containers" in explained and "image" in explained
    assert "deployments" in kubectl("api-resources").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  colour: blue\n"
                   "  containers:\n  - name: a\n    image: busybox\n")
    refused = kubectl("apply", "-f", str(bad), check=False)
    assert refused.returncode == 1 and 'unknown field "' in refused.stderr and "colour" in refused.stderr
    assert "bad" not in kubectl("get", "pods").stdout
    kubectl("create", "configmap", "versioned", "--from-literal=a=1")
    stale = json.loads(kubectl("get", "cm", "versioned", "-o", "json").stdout)
    kubectl("patch", "cm", "versioned", "--type=merge", "-p", '{"data":{"a":"2"}}')
    stale["data"]["a"] = "3"
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(stale))
    conflict = kubectl("replace", "-f", str(path), check=False)
    assert conflict.returncode == 1 and "the object has been modified" in conflict.stderr, conflict.stderr
    assert json.loads(kubectl("get", "cm", "versioned", "-o", "json").stdout)["data"] == {"a": "2"}
    kubectl("patch", "cm", "versioned", "--type=json", "-p", '[{"op":"replace","path":"/data/a","value":"4"}]')
    assert kubectl("get", "cm", "versioned", "-o", "jsonpath={.data.a}").stdout == "4"
    kubectl("delete", "cm", "versioned")


def test_node_and_events(kubectl):
    node = kubectl("get", "nodes").stdout.splitlines()
    assert node[1].split()[:2] == [socket.gethostname(), "Ready"], node
    kubectl("run", "noimage", "--image=no-such-image-here", "--restart=Never")
    wait_for(lambda: "ErrImagePull" in kubectl("get", "pod", "noimage").stdout
             or "ImagePullBackOff" in kubectl("get", "pod", "noimage").stdout, timeout=30, what="pull error")
    described = kubectl("describe", "pod", "noimage").stdout
    assert re.search(r"Warning\s+Failed\s+.*kubelet", described), described
    assert "noimage" in kubectl("get", "events").stdout
    # the Events of every step, as a cluster records them: a watch sees them come, --sort-by orders them
    watch = _spawn(kubectl, "get", "events", "--watch-only", "-o",
                   "custom-columns=REASON:.reason,OBJ:.involvedObject.name")
    try:
        time.sleep(1.5)  # the watch is established before the pod exists
        kubectl("run", "chatty", "--image=busybox", "--restart=Never", "--", "sleep", "300")
        wait_for(lambda: kubectl("get", "pod", "chatty", "-o", "jsonpath={.status.phase}").stdout == "Running",
                 timeout=30, what="chatty running")
        time.sleep(1.5)  # the API server compares what it sent every half second
    finally:
        watch.terminate()
        out, _ = watch.communicate(timeout=10)
    seen = [line.split()[0] for line in out.splitlines() if line.endswith(" chatty")]
    assert seen[:4] == ["Scheduled", "Pulled", "Created", "Started"], out
    rows = kubectl("get", "events", "--sort-by=.lastTimestamp", "--field-selector", "involvedObject.name=chatty",
                   "-o", "custom-columns=REASON:.reason,FROM:.source.component").stdout.split()
    assert rows[2:10] == ["Scheduled", "default-scheduler", "Pulled", "kubelet", "Created", "kubelet",
                          "Started", "kubelet"], rows
    kubectl("delete", "pod", "noimage", "chatty", "--grace-period=1", timeout=60)


POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - namespaceSelector: {matchLabels: {project: myproject}}
    - podSelector: {matchLabels: {role: frontend}}
    ports:
    - {protocol: TCP, port: 6379}
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/24}
    ports:
    - {protocol: TCP, port: 5978}
    - {port: 32000, endPort: 32768}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {}
"""


def test_network_policies_as_kubectl_shows_them(kubectl, tmp_path):
    """The Kubernetes docs' NetworkPolicy examples: kubectl's own describe
    (computed by kubectl from the object served) and minipod's are the same
    text; get's columns, explain, the API server's defaulting and refusals."""
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES)
    applied = kubectl("apply", "-f", str(path))
    assert "Warning" not in applied.stderr, applied.stderr
    try:
        listed = kubectl("get", "networkpolicies").stdout.splitlines()
        assert listed[0].split() == ["NAME", "POD-SELECTOR", "AGE"], listed
        assert [line.split()[:2] for line in listed[1:]] == [["default-deny-ingress", "<none>"],
                                                             ["test-network-policy", "role=db"]], listed
        deny = json.loads(kubectl("get", "netpol", "default-deny-ingress", "-o", "json").stdout)
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}  # defaulted as the API server does
        for name in ("test-network-policy", "default-deny-ingress"):
            theirs = kubectl("describe", "networkpolicy", name).stdout
            ours = mp("describe", "networkpolicy", name).stdout
            if kubectl.binary == DEBIAN_KUBECTL:  # 1.20 knows no endPort: it shows a range's first port
                ours = ours.replace("To Port Range: 32000-32768/TCP", "To Port: 32000/TCP")
            # kubectl prints "Created on" in its own time zone; the rest is the same text
            strip = lambda text: [line.rstrip() for line in text.strip().splitlines()  # noqa: E731
                                  if not line.startswith("Created on:")]
            assert strip(theirs) == strip(ours), f"kubectl:\n{theirs}\nminipod:\n{ours}"
        ranged = json.loads(kubectl("get", "netpol", "test-network-policy", "-o", "json").stdout)
        assert ranged["spec"]["egress"][0]["ports"][1] == {"port": 32000, "endPort": 32768, "protocol": "TCP"}
        assert "ipBlock" in kubectl("explain", "networkpolicy.spec.ingress.from").stdout
        bad = tmp_path / "bad.yaml"
        bad.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad}\n"
                       "spec: {podSelector: {}, ingress: [{from: [{}]}]}\n")
        refused = kubectl("apply", "-f", str(bad), check=False)
        assert refused.returncode == 1 and "must specify a peer" in refused.stderr, refused.stderr
        assert "bad" not in kubectl("get", "netpol").stdout
    finally:
        kubectl("delete", "-f", str(path), check=False)
    assert kubectl("get", "netpol").stdout == ""


def test_auth_can_i_answers_for_the_admin(kubectl):
    """`kubectl auth can-i` (SelfSubjectAccessReview) and `--list`
    (SelfSubjectRulesReview): the kubeconfig's admin may do everything."""
    assert kubectl("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "deployments", "-n", "kube-system").stdout.strip() == "yes"
    listed = kubectl("auth", "can-i", "--list").stdout.splitlines()
    assert listed[0].split()[:3] == ["Resources", "Non-Resource", "URLs"], listed
    assert any(line.split()[:1] == ["*.*"] and line.rstrip().endswith("[*]") for line in listed), listed


def test_server_side_dry_run_and_diff(kubectl, tmp_path):
    """`--dry-run=server` and `kubectl diff` (dryRun=All): checked, defaulted
    and allocated as a real write, answered as it would be stored, nothing
    stored; with 1.20 too (it asks the OpenAPI v2 document whether a kind
    takes dryRun)."""
    made = kubectl("create", "deployment", "dry", "--image=busybox", "--dry-run=server", "-o", "json")
    dep = json.loads(made.stdout)
    assert dep["metadata"]["uid"] and dep["spec"]["strategy"]["type"] == "RollingUpdate"  # stored-like, defaulted
    svc = json.loads(kubectl("create", "service", "clusterip", "drysvc", "--tcp=80:8080", "--dry-run=server",
                             "-o", "json").stdout)
    assert svc["spec"]["clusterIP"].startswith("10.")  # allocated as a create would
    listed = kubectl("get", "deployments,services", "-o", "name").stdout
    assert "deployment.apps/dry" not in listed and "service/drysvc" not in listed, listed  # nothing stored
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: diffed\ndata:\n  a: \"1\"\n")
    new = kubectl("diff", "-f", str(path), check=False)
    assert new.returncode == 1 and '+  a: "1"' in new.stdout, new.stdout + new.stderr
    kubectl("apply", "-f", str(path))
    try:
        assert kubectl("diff", "-f", str(path), check=False).returncode == 0  # no change, no diff
        path.write_text(path.read_text().replace('"1"', '"2"'))
        changed = kubectl("diff", "-f", str(path), check=False)
        lines = [line for line in changed.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        assert changed.returncode == 1 and lines == ['-  a: "1"', '+  a: "2"'], changed.stdout
        assert kubectl("get", "cm", "diffed", "-o", "jsonpath={.data.a}").stdout == "1"  # not written
    finally:
        kubectl("delete", "cm", "diffed")


def test_top_pod_and_node(kubectl):
    """`kubectl top` through metrics.k8s.io: a pod that spins shows a CPU
    share of a core, read from its cgroup; the node its own figures."""
    kubectl("run", "spinner", "--image=busybox", "--", "sh", "-c", "while :; do :; done")
    try:
        kubectl("wait", "--for=condition=Ready", "pod/spinner", "--timeout=60s", timeout=90)
        rows = kubectl("top", "pod", "spinner").stdout.splitlines()
        assert rows[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"], rows
        name, cpu, memory = rows[1].split()
        assert name == "spinner" and re.fullmatch(r"\d+m", cpu) and re.fullmatch(r"\d+Mi", memory), rows
        assert int(cpu[:-1]) >= 100, rows  # a busy loop: a good share of a core even on a loaded machine
        containers = kubectl("top", "pod", "spinner", "--containers").stdout.splitlines()
        assert containers[1].split()[:2] == ["spinner", "spinner"], containers
        node = kubectl("top", "node").stdout.splitlines()
        assert node[0].split()[:2] == ["NAME", "CPU(cores)"] and node[0].split()[2] in ("CPU%", "CPU(%)"), node
        assert node[1].split()[0] == socket.gethostname() and re.fullmatch(r"\d+%", node[1].split()[2]), node
    finally:
        kubectl("delete", "pod", "spinner", "--grace-period=1")


def test_logs_previous_is_the_run_before(kubectl, tmp_path):
    """As the kubelet keeps them: a restarted container's log holds the
    current run alone, `--previous` the run before it."""
    path = tmp_path / "twice.yaml"
    path.write_text("""apiVersion: v1
kind: Pod
metadata: {name: twice}
spec:
  volumes: [{name: count, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    volumeMounts: [{name: count, mountPath: /v}]
    command: ["sh", "-c", "n=$(( $(cat /v/n 2>/dev/null || echo 0) + 1 )); echo $n > /v/n; echo run $n; [ $n -ge 2 ] && exec sleep 3600; exit 1"]
""")
    kubectl("apply", "-f", str(path))
    try:
        wait_for(lambda: kubectl("get", "pod", "twice", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"
                                 ).stdout == "1" and kubectl("logs", "twice").stdout == "run 2\n",
                 timeout=60, what="the second run")
        assert kubectl("logs", "twice", "--previous").stdout == "run 1\n"
        assert mp("logs", "--previous", "twice").stdout == "run 1\n"
        kubectl("run", "once", "--image=busybox", "--", "sleep", "3600")
        kubectl("wait", "--for=condition=Ready", "pod/once", "--timeout=60s", timeout=90)
        none = kubectl("logs", "once", "--previous", check=False)
        assert none.returncode == 1 and 'previous terminated container "once" in pod "once" not found' in none.stderr
    finally:
        kubectl("delete", "pod", "twice", "once", "--grace-period=1", check=False)


GATEWAY_API = """\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: minipod}
spec: {controllerName: minipod.dev/gateway-controller, description: minipod's own}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, labels: {tier: edge}}
spec:
  gatewayClassName: minipod
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: tcp, port: 9000, protocol: TCP}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: hello, annotations: {team: course}}
spec:
  parentRefs: [{name: web, sectionName: http}]
  hostnames: [hello-world.info, "*.hello.info"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v2}, headers: [{name: X-Version, value: "2"}]}]
    backendRefs: [{name: web2, port: 8080, weight: 10}]
"""


def test_gateway_api_kinds_as_kubectl_shows_them(kubectl, tmp_path):
    """The Gateway API's kinds through kubectl, served from the CRDs' own
    schemas: apply (a v1beta1 manifest too), wait for a condition, get's
    printer columns, kubectl's own describe (its generic describer, from the
    object served) the same text as minipod's, explain, a CEL rule's 422."""
    path = tmp_path / "gateway.yaml"
    path.write_text(GATEWAY_API)
    applied = kubectl("apply", "-f", str(path)).stdout.splitlines()
    assert applied == ["gatewayclass.gateway.networking.k8s.io/minipod created",
                       "gateway.gateway.networking.k8s.io/web created",
                       "httproute.gateway.networking.k8s.io/hello created"], applied
    try:
        kubectl("wait", "--for=condition=Programmed", "gateway/web", "--timeout=120s", timeout=150)
        wait_for(lambda: "ResolvedRefs" in kubectl("get", "httproute", "hello", "-o", "json").stdout, timeout=30,
                 what="the route's status")
        listed = kubectl("get", "gateway,httproute,gatewayclass").stdout.split("\n\n")
        assert listed[0].splitlines()[0].split() == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
        assert listed[0].splitlines()[1].split()[:4] == ["gateway.gateway.networking.k8s.io/web", "minipod",
                                                         mp_json("get", "gateway", "web", "-o", "json")["status"][
                                                             "addresses"][0]["value"], "True"]
        assert listed[1].splitlines()[1].split()[1] == '["hello-world.info","*.hello.info"]'
        assert listed[2].splitlines()[1].split()[1:3] == ["minipod.dev/gateway-controller", "True"]
        for kind, name in (("gateway", "web"), ("httproute", "hello"), ("gatewayclass", "minipod")):
            theirs = kubectl("describe", kind, name).stdout
            ours = mp("describe", kind, name).stdout
            strip = lambda text: [line.rstrip() for line in text.strip().splitlines()]  # noqa: E731
            assert strip(theirs) == strip(ours), f"kubectl:\n{theirs}\nminipod:\n{ours}"
        assert "UnsupportedProtocol" in kubectl("describe", "gateway", "web").stdout  # the TCP listener
        beta = json.loads(kubectl("get", "httproutes.v1beta1.gateway.networking.k8s.io", "hello", "-o", "json").stdout)
        assert beta["apiVersion"] == "gateway.networking.k8s.io/v1beta1"
        assert beta["spec"]["parentRefs"][0] == {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                 "name": "web", "sectionName": "http"}  # the CRD's defaults
        assert "queryParams" in kubectl("explain", "httproute.spec.rules.matches").stdout
        bad = tmp_path / "bad.yaml"
        bad.write_text("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: bad}\n"
                       "spec:\n  rules:\n  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301}}]\n"
                       "    backendRefs: [{name: web, port: 8080}]\n")
        refused = kubectl("apply", "-f", str(bad), check=False)
        assert refused.returncode == 1 and 'The HTTPRoute "bad" is invalid: spec.rules[0]: Invalid value: "object": ' \
            "RequestRedirect filter must not be used together with backendRefs" in refused.stderr, refused.stderr
    finally:
        kubectl("delete", "-f", str(path), check=False)
    assert kubectl("get", "gateway,httproute").stdout == ""
