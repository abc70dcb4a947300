"""Pods and Deployments from YAML, realised by the node agent (the
kubelet's and the Deployment controller's roles), with restarts,
CrashLoopBackOff, scaling, rollouts, volumes and an agent that is killed.

The agent's back-off is shortened for the suite (tests/conftest.py:
MINIPOD_BACKOFF_BASE=1, MINIPOD_BACKOFF_MAX=4)."""

import datetime
import json
import os
import re
import signal
import subprocess
import time

from tests.conftest import REPO, TEST_ENV, TEST_ROOT
from tests.integration.conftest import MP, leaks, mp, mp_json, sh, wait_for

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "echo $GREETING from $(hostname) > /www/index.html; exec httpd -f -p 80 -h /www"]
        env:
        - {name: GREETING, value: hello}
        ports:
        - {containerPort: 80, name: http}
"""


def pods(selector=None):
    """{name: (ready, status, restarts, ip)} from `get pods -o wide`."""
    args = ["get", "pods", "-o", "wide"] + (["-l", selector] if selector else [])
    rows = [l.split() for l in mp(*args).stdout.splitlines()[1:]]
    return {r[0]: (r[1], r[2], int(r[3]), r[5]) for r in rows}


def running(n, selector="app=web"):
    def check():
        now = pods(selector)
        return now if len(now) == n and all(v[1] == "Running" and v[0] == "1/1" for v in now.values()) else None
    return wait_for(check, timeout=60, interval=0.2, what=f"{n} running pods")


def apply(tmp_path, text, name="m.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return mp("apply", "-f", path).stdout


def test_deployment_replicas_restart_scale_rollout_delete(tmp_path):
    assert apply(tmp_path, DEPLOYMENT) == "deployment/web created\n"
    now = running(3)
    ips = {v[3] for v in now.values()}
    assert len(ips) == 3
    for name, (_r, _s, _n, ip) in now.items():
        assert name.startswith("web-") and len(name.split("-")[1]) == 10 and len(name.split("-")[2]) == 5
        assert sh(f"curl -s --max-time 3 http://{ip}/").stdout == f"hello from {name}\n"
        labels = mp_json("get", "pod", name, "-o", "json")["metadata"]["labels"]
        assert labels["app"] == "web" and labels["tier"] == "front" and "pod-template-hash" in labels
    assert mp("get", "deploy").stdout.splitlines()[1].split()[:4] == ["web", "3/3", "3", "3"]

    # the app process dies: the container restarts in the same pod, same IP
    victim = sorted(now)[0]
    mp("kill", f"default_{victim}_httpd")
    wait_for(lambda: pods().get(victim, (0, 0, 0))[2] == 1 and pods()[victim][1] == "Running",
             timeout=30, what="restart")
    assert pods()[victim][3] == now[victim][3]

    # a pod removed behind the Deployment's back is replaced
    other = sorted(now)[1]
    mp("delete", "pod", other)
    wait_for(lambda: other not in pods() and len(running(3)) == 3, timeout=60, what="replacement")

    mp("scale", "deployment/web", "--replicas", "1")
    running(1)
    mp("scale", "deploy/web", "--replicas", "2")
    before = running(2)

    # a changed template replaces every pod, new ones first
    apply(tmp_path, DEPLOYMENT.replace("value: hello", "value: hi").replace("replicas: 3", "replicas: 2"))
    after = wait_for(lambda: (lambda p: p if len(p) == 2 and not set(p) & set(before) and
                              all(v[1] == "Running" for v in p.values()) else None)(pods("app=web")),
                     timeout=90, interval=0.2, what="rollout")
    for name, (_r, _s, _n, ip) in after.items():
        assert sh(f"curl -s --max-time 3 http://{ip}/").stdout == f"hi from {name}\n"
    log = mp("agent", "logs").stdout
    created = [l for l in log.splitlines() if "created pod" in l]
    assert created, log

    assert mp("delete", "deployment", "web").stdout == 'deployment "web" deleted\n'
    wait_for(lambda: not pods() and not mp("ps", "-aq").stdout and not mp("pod", "ls", "-q").stdout,
             timeout=30, what="pods gone")
    mp("agent", "stop")
    assert leaks() == []


def test_crash_loop_back_off_grows(tmp_path):
    apply(tmp_path, """apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "exit 1"]}
""")
    # the agent makes the container asynchronously, as the kubelet does
    wait_for(lambda: mp("inspect", "default_crasher_c", check=False).returncode == 0, timeout=30, what="container")
    statuses, info = set(), {}
    deadline = time.monotonic() + 120  # about 11 s of back-off; a loaded machine is slower, not wrong
    while time.monotonic() < deadline:
        info = mp_json("inspect", "default_crasher_c")[0]
        statuses.add(pods()["crasher"][1])
        if info["RestartCount"] >= 5:
            break
        time.sleep(0.1)
    # The delays the agent records: capped at 4 s (the suite's back-off: 1 s
    # doubling to 4 s instead of 10 s to 5 minutes).
    assert info["RestartCount"] >= 5 and (info["State"].get("Backoff") or {}).get("delay") == 4, \
        (info, mp("agent", "logs").stdout[-2500:])
    # The first restart is immediate, then the agent waits 1, 2, 4, 4 s
    # between restarts (its log has milliseconds).
    times = [datetime.datetime.strptime(l.split()[0], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
             for l in mp("agent", "logs").stdout.splitlines() if "restarted container default_crasher_c" in l]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) >= 4 and gaps[0] >= 1 and gaps[1] >= 2 and gaps[2] >= 4 and 4 <= gaps[3] < 8, gaps
    assert "CrashLoopBackOff" in statuses, statuses
    described = mp("describe", "pod", "crasher").stdout
    assert "Restart Count:" in described and re.search(r"Exit Code:\s+1\n", described), described
    # the kubelet's Events, one each repeated with its count (x5 or more over the restarts)
    back_off = re.search(r"Warning\s+BackOff\s+\S+ \(x(\d+) over \S+\)\s+kubelet\s+Back-off restarting failed "
                         r"container c in pod crasher_default\(", described)
    started = re.search(r"Normal\s+Started\s+\S+ \(x(\d+) over \S+\)\s+kubelet\s+Started container c\n",
                        described)
    assert back_off and int(back_off.group(1)) >= 3 and started and int(started.group(1)) >= 5, described


def test_two_container_pod_shares_namespaces_and_volumes(tmp_path):
    apply(tmp_path, """apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data:
  index.html: |
    hello from a configMap
---
apiVersion: v1
kind: Pod
metadata:
  name: pair
  labels: {demo: pause}
spec:
  shareProcessNamespace: true
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: site, configMap: {name: site}}
  containers:
  - name: writer
    image: busybox
    command: ["sh", "-c", "echo written by writer > /scratch/note; exec sleep 86400"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  - name: reader
    image: busybox
    command: ["sleep", "86400"]
    volumeMounts:
    - {name: scratch, mountPath: /in, readOnly: true}
    - {name: site, mountPath: /www}
""")
    wait_for(lambda: pods("demo=pause").get("pair", ("",))[0] == "2/2", timeout=30, what="2/2")
    wait_for(lambda: mp("exec", "pair", "-c", "reader", "cat", "/in/note", check=False).stdout == "written by writer\n",
             timeout=10, what="note")
    assert mp("exec", "pod/pair", "-c", "reader", "cat", "/www/index.html").stdout == "hello from a configMap\n"
    proc = mp("exec", "default_pair_reader", "touch", "/in/x", check=False)
    assert proc.returncode != 0 and "Read-only" in proc.stderr
    w, r = mp_json("inspect", "default_pair_writer", "default_pair_reader")
    for ns in ("net", "ipc", "uts", "pid"):
        assert w["Namespaces"][ns] == r["Namespaces"][ns]
    assert w["Namespaces"]["mnt"] != r["Namespaces"]["mnt"]
    # one PID namespace (shareProcessNamespace): pause is PID 1 and the reader sees the writer's sleep
    ps = mp("exec", "pair", "-c", "reader", "ps", "-o", "pid,args").stdout
    assert "1 /pause" in ps and ps.count("sleep 86400") == 2
    # BestEffort (no resources): the kubelet's 1000 for its containers, the OOM
    # killer's first choice, and pause below them
    adj = {}
    for name, pid in (("writer", w["State"]["Pid"]), ("reader", r["State"]["Pid"]),
                      ("pause", mp_json("pod", "inspect", w["Pod"]["Id"])[0]["PausePid"])):
        with open(f"/proc/{pid}/oom_score_adj") as f:
            adj[name] = int(f.read())
    assert adj["writer"] == adj["reader"] == 1000 > adj["pause"], adj
    assert mp_json("get", "pod", "pair", "-o", "json")["status"]["qosClass"] == "BestEffort"
    assert "QoS Class:      BestEffort\n" in mp("describe", "pod", "pair").stdout
    mp("delete", "pod", "pair")
    mp("delete", "cm", "site")
    assert "pair" not in pods()


def test_each_container_is_pid_1_of_its_own_and_a_delete_is_graceful(tmp_path):
    """As on Kubernetes: without shareProcessNamespace, each container is PID
    1 of a PID namespace of its own inside the pod's. A delete marks the pod
    (Terminating, deletionTimestamp, deletionGracePeriodSeconds); its
    containers, which as PID 1 ignore SIGTERM, go together at the SIGKILL
    after the grace period, and only then is the object gone."""
    apply(tmp_path, """apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: one, image: busybox, command: ["sleep", "86400"]}
  - {name: two, image: busybox, command: ["sleep", "86401"]}
""")
    wait_for(lambda: pods().get("solo", ("",))[0] == "2/2", timeout=30, what="2/2")
    for ctr, arg in (("one", "86400"), ("two", "86401")):
        ps = mp("exec", "solo", "-c", ctr, "ps", "-o", "pid,args").stdout.splitlines()
        assert ps[1].split() == ["1", "sleep", arg], ps  # its app first, and nothing of the other container
        assert not any("pause" in line or "sleep" in line for line in ps[2:]), ps
    one, two = mp_json("inspect", "default_solo_one", "default_solo_two")
    assert one["Namespaces"]["pid"] != two["Namespaces"]["pid"] and one["Namespaces"]["net"] == two["Namespaces"]["net"]
    deleting = subprocess.Popen(MP + ["delete", "pod", "solo"], env={**os.environ, **TEST_ENV}, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: pods().get("solo", ("", ""))[1] == "Terminating", timeout=10, what="Terminating")
        meta = mp_json("get", "pod", "solo", "-o", "json")["metadata"]
        assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 2
        assert mp("exec", "solo", "-c", "one", "true").returncode == 0  # SIGTERM did not end it
        assert mp("gc", "--dry-run").stdout == ""  # a teardown under way is no leftover
    finally:
        out, err = deleting.communicate(timeout=60)
    assert deleting.returncode == 0 and out == 'pod "solo" deleted\n', (out, err)
    assert "solo" not in pods() and "default_solo" not in mp("ps", "-a").stdout
    assert "pod default/solo: being deleted; tearing it down (grace 2s)" in mp("agent", "logs").stdout
    assert not leaks()


def test_a_pod_s_life_in_events(tmp_path):
    """The Events a cluster shows of a healthy pod's life, in order, with the
    components that report them; a delete adds the kubelet's Killing."""
    apply(tmp_path, """apiVersion: v1
kind: Pod
metadata: {name: told}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    command: ["httpd", "-f", "-p", "80"]
    readinessProbe: {httpGet: {path: /nothing-here, port: 80}, periodSeconds: 1}
""")
    wait_for(lambda: "Readiness probe failed" in mp("describe", "pod", "told").stdout, timeout=30, what="Unhealthy")
    described = mp("describe", "pod", "told").stdout
    rows = [line.split(None, 4) for line in described[described.index("Events:"):].splitlines()[3:]]
    assert [(r[0], r[1], r[3]) for r in rows[:4]] == [
        ("Normal", "Scheduled", "default-scheduler"), ("Normal", "Pulled", "kubelet"),
        ("Normal", "Created", "kubelet"), ("Normal", "Started", "kubelet")], described
    node = mp_json("get", "pod", "told", "-o", "json")["spec"].get("nodeName") or os.uname().nodename
    assert f"Successfully assigned default/told to {node}" in described
    assert 'Container image "busybox" already present on machine' in described
    assert "Created container web" in described and "Started container web" in described
    assert re.search(r"Warning\s+Unhealthy\s+.*kubelet\s+Readiness probe failed: HTTP probe failed with "
                     r"statuscode: 404", described), described
    mp("delete", "pod", "told")
    # the Events stay (an hour) after their pod: as stored, each names its object and container
    mine = [json.loads(p.read_text()) for p in (TEST_ROOT / "lib" / "events" / "default").glob("told.*.json")]
    assert [e["message"] for e in mine if e["reason"] == "Killing"] == ["Stopping container web"], mine
    assert all(e["involvedObject"]["fieldPath"] == "spec.containers{web}" for e in mine if e["reason"] != "Scheduled")


def test_a_rolling_update_keeps_within_max_surge_and_max_unavailable(tmp_path):
    """maxSurge 0, maxUnavailable 2 of 4: the old ReplicaSet makes room
    first, two by two, and the new one fills it, as the Deployment controller
    steps (its ScalingReplicaSet Events, in order)."""
    text = DEPLOYMENT.replace("replicas: 3", "replicas: 4\n  strategy:\n    rollingUpdate: {maxSurge: 0, "
                                                "maxUnavailable: 2}").replace(
        "    spec:\n", "    spec:\n      terminationGracePeriodSeconds: 1\n")
    apply(tmp_path, text)
    running(4)
    apply(tmp_path, text.replace("value: hello", "value: hi"))
    wait_for(lambda: (lambda p: len(p) == 4 and all(v[1] == "Running" for v in p.values()) and
                      all(sh(f"curl -s --max-time 3 http://{v[3]}/").stdout.startswith("hi") for v in p.values()))(
        pods("app=web")), timeout=90, interval=0.5, what="the rollout")
    uid = mp_json("get", "deployment", "web", "-o", "json")["metadata"]["uid"]  # not an earlier test's "web"
    seen = sorted((t, e) for t, e in ((p.stat().st_mtime_ns, json.loads(p.read_text())) for p in
                                      (TEST_ROOT / "lib" / "events" / "default").glob("web.*.json"))
                  if e["involvedObject"]["uid"] == uid)
    old = _old_rs_name(seen)
    steps = [re.sub(r"web-\w+", lambda m: "old" if m.group(0) == old else "new", e["message"])
             for _t, e in seen if e["reason"] == "ScalingReplicaSet"]
    assert steps == ["Scaled up replica set old from 0 to 4", "Scaled down replica set old from 4 to 2",
                     "Scaled up replica set new from 0 to 2", "Scaled down replica set old from 2 to 0",
                     "Scaled up replica set new from 2 to 4"], steps
    mp("delete", "deployment", "web")


def test_revision_history_limit_keeps_that_many_old_replicasets(tmp_path):
    """Each template change leaves the old ReplicaSet at 0 replicas as
    history; past revisionHistoryLimit the oldest go."""
    text = DEPLOYMENT.replace("replicas: 3", "replicas: 1\n  revisionHistoryLimit: 1").replace(
        "    spec:\n", "    spec:\n      terminationGracePeriodSeconds: 1\n")
    for greeting in ("one", "two", "three"):
        apply(tmp_path, text.replace("value: hello", f"value: {greeting}"))
        wait_for(lambda: mp("rollout", "status", "deployment/web", check=False).returncode == 0 and
                 len(pods("app=web")) == 1, timeout=60, interval=0.3, what=f"the rollout of {greeting}")
    wait_for(lambda: len(mp("get", "rs").stdout.splitlines()) == 3, timeout=30, what="one old ReplicaSet kept")
    rows = [l.split() for l in mp("get", "rs").stdout.splitlines()[1:]]
    assert sorted(r[1] for r in rows) == ["0", "1"], rows  # the current one, and the one before it
    mp("delete", "deployment", "web")
    assert mp("get", "rs").stdout == ""  # (kubectl says "No resources found" on stderr)


def _old_rs_name(seen) -> str:
    """The ReplicaSet the first ScalingReplicaSet Event scaled up."""
    first = next(e for _t, e in seen if e["reason"] == "ScalingReplicaSet")
    return re.search(r"web-\w+", first["message"]).group(0)


def test_a_deleted_deployment_s_pods_are_torn_down_side_by_side(tmp_path):
    """The node agent tears pods down as the kubelet's pod workers do, each
    on its own: all of them begin before the first is gone (a pod whose app
    ignores SIGTERM holds only itself for its grace period)."""
    apply(tmp_path, DEPLOYMENT.replace("    spec:\n", "    spec:\n      terminationGracePeriodSeconds: 2\n"))
    names = set(running(3))
    mp("delete", "deployment", "web")
    assert not pods("app=web")
    lines = [line for line in mp("agent", "logs").stdout.splitlines() if any(n in line for n in names)]
    began = [i for i, line in enumerate(lines) if "tearing it down (grace 2s)" in line]
    gone = [i for i, line in enumerate(lines) if line.endswith(": deleted")]
    assert len(began) == 3 and len(gone) == 3 and max(began) < min(gone), lines
    assert not leaks()


def test_pod_create_share_chooses_the_pid_namespace():
    """podman's --share: without pid each container is PID 1 of its own;
    what pause holds cannot be left out (one line, 125, nothing made)."""
    mp("pod", "create", "--name", "apart", "--share", "ipc,net,uts")
    try:
        mp("run", "-d", "--pod", "apart", "--name", "apart-app", "busybox", "sleep", "300")
        assert mp("exec", "apart-app", "ps", "-o", "pid,args").stdout.splitlines()[1].split() == ["1", "sleep", "300"]
        assert mp_json("pod", "inspect", "apart")[0]["SharedNamespaces"] == ["ipc", "net", "uts"]
    finally:
        mp("rm", "-f", "apart-app")  # SIGKILL at once: as PID 1, sleep ignores the SIGTERM of `pod rm -f`
        mp("pod", "rm", "-f", "apart")
    before = mp("pod", "ls", "-q").stdout
    for share, words in (("net", "always share ipc, net and uts"), ("ipc,net,uts,cgroup", "unknown namespace")):
        proc = mp("pod", "create", "--name", "bad", "--share", share, check=False)
        assert proc.returncode == 125 and words in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert mp("pod", "ls", "-q").stdout == before


def test_killing_the_agent_loses_nothing(tmp_path):
    apply(tmp_path, DEPLOYMENT.replace("replicas: 3", "replicas: 2"))
    first = running(2)
    pid = int(mp("agent", "status").stdout.split("pid ")[1].split(",")[0])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: mp("agent", "status", check=False).returncode == 3, what="agent gone")
    # containers keep running without it
    assert all(sh(f"curl -s --max-time 3 http://{v[3]}/").stdout.startswith("hello") for v in first.values())
    victim = sorted(first)[0]
    mp("kill", f"default_{victim}_httpd")
    time.sleep(1.0)
    assert mp("ps", "--format", "json").stdout.count(f"default_{victim}_httpd") == 0  # nobody restarted it
    # the next CLI call starts the agent again; the restart happens then
    mp("get", "pods")
    assert mp("agent", "status").returncode == 0
    wait_for(lambda: pods()[victim][2] == 1 and pods()[victim][1] == "Running", timeout=30, what="restart")
    assert set(running(2)) == set(first)


def test_pods_of_pod_create_and_run_appear_in_get_pods():
    mp("pod", "create", "--name", "plain", "-l", "app=plain")
    mp("run", "-d", "--pod", "plain", "--name", "plain-ctr", "busybox", "sleep", "86400")
    rows = pods("app=plain")
    assert list(rows) == ["plain"] and rows["plain"][:2] == ("1/1", "Running")
    obj = json.loads(mp("get", "pod", "plain", "-o", "json").stdout)
    assert obj["metadata"]["namespace"] == "default" and obj["metadata"]["labels"] == {"app": "plain"}
    proc = mp("delete", "pod", "plain", check=False)
    assert proc.returncode == 125 and "pod rm" in proc.stderr


def test_docker_start_restart_and_restart_policies():
    mp("run", "-d", "--name", "svc", "busybox", "sleep", "86400")
    ip = mp_json("inspect", "svc")[0]["NetworkSettings"]["IPAddress"]
    mp("stop", "-t", "0", "svc")
    assert mp_json("inspect", "svc")[0]["State"]["Status"] == "exited"
    assert mp("start", "svc").stdout == "svc\n"
    info = mp_json("inspect", "svc")[0]
    assert info["State"]["Running"] and info["NetworkSettings"]["IPAddress"] == ip
    old_pid = info["State"]["Pid"]
    mp("restart", "-t", "0", "svc")
    assert mp_json("inspect", "svc")[0]["State"]["Pid"] not in (0, old_pid)

    # --restart always: an exit on its own is undone, a stop is respected
    mp("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.3; exit 0")
    wait_for(lambda: mp_json("inspect", "always")[0]["RestartCount"] >= 2, timeout=30, what="restarts")
    assert mp_json("inspect", "always")[0]["HostConfig"]["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    mp("stop", "-t", "0", "always")
    count = mp_json("inspect", "always")[0]["RestartCount"]
    time.sleep(2.5)
    info = mp_json("inspect", "always")[0]
    assert info["State"]["Status"] == "exited" and info["RestartCount"] == count

    # on-failure:2 gives up after two restarts; a success is never restarted
    mp("run", "-d", "--name", "twice", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    mp("run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true")
    wait_for(lambda: mp_json("inspect", "twice")[0]["RestartCount"] == 2, timeout=30, what="two restarts")
    time.sleep(2.5)
    assert mp_json("inspect", "twice")[0]["RestartCount"] == 2
    assert mp_json("inspect", "fine")[0]["RestartCount"] == 0
    proc = mp("run", "--restart", "always", "busybox", "true", check=False)
    assert proc.returncode == 125 and "--restart needs -d" in proc.stderr


def test_invalid_manifests_are_refused_whole_with_the_field_path(tmp_path):
    """Each mistake of the unit suite, through the CLI, after a valid
    document in the same file: one line, 125, nothing applied."""
    import yaml
    from tests.unit.test_workloads import MISTAKES, _mutated
    good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\ndata: {a: b}\n---\n"
    for path, value, message in MISTAKES:
        manifest = tmp_path / "bad.yaml"
        manifest.write_text(good + yaml.safe_dump(_mutated(path, value)))
        proc = mp("apply", "-f", manifest, check=False)
        assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "No resources found" in mp("get", "cm").stderr
    assert not (tmp_path / "x").exists() and mp("agent", "status", check=False).returncode == 3


def test_namespaced_pod_with_host_path_sub_path_and_host_network(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("from a hostPath\n")
    apply(tmp_path, f"""apiVersion: v1
kind: Namespace
metadata: {{name: team-a}}
---
apiVersion: v1
kind: Pod
metadata: {{name: reader, namespace: team-a}}
spec:
  restartPolicy: Never
  volumes:
  - {{name: host, hostPath: {{path: {tmp_path}, type: Directory}}}}
  containers:
  - name: c
    image: busybox
    workingDir: /srv
    command: ["sh", "-c", "cat /srv/index.html; pwd; exec sleep 86400"]
    volumeMounts: [{{name: host, mountPath: /srv, subPath: site, readOnly: true}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: on-host, namespace: team-a}}
spec:
  hostNetwork: true
  containers:
  - {{name: c, image: busybox, command: ["sleep", "86400"]}}
""")
    wait_for(lambda: mp("wait", "--for=condition=Ready", "pod/reader", "pod/on-host", "-n", "team-a",
                        "--timeout", "30", check=False).returncode == 0, timeout=60, what="ready")
    assert mp("logs", "-n", "team-a", "reader").stdout == "from a hostPath\n/srv\n"
    rows = mp("get", "pods", "-n", "team-a").stdout
    assert "reader" in rows and "on-host" in rows and "No resources found" in mp("get", "pods").stderr
    # a host-network pod sees the host's interfaces (the test bridge among them)
    assert "mptest0" in mp("exec", "team-a_on-host_c", "ip", "-o", "link").stdout
    # the pod's own pod removed behind the agent's back: the kubelet's part makes it again
    ip_before = mp_json("get", "pod", "reader", "-n", "team-a", "-o", "json")["status"]["podIP"]
    assert ip_before
    mp("pod", "rm", "-f", "team-a_reader")
    wait_for(lambda: mp("wait", "--for=condition=Ready", "pod/reader", "-n", "team-a", "--timeout", "30",
                        check=False).returncode == 0, timeout=60, what="re-made pod")
    mp("delete", "ns", "team-a")  # as Kubernetes: its pods go with it, torn down before delete returns
    assert mp("pod", "ls", "-q").stdout == ""
    assert "No resources found" in mp("get", "pods", "-n", "team-a").stderr
