"""Workloads without root: the Pod and Deployment schemas (strict, with
field paths), CrashLoopBackOff arithmetic, the rollout planner, and the
volume flags' parsers."""

import copy

import pytest
import yaml
from hypothesis import given

from minipod import spec
from minipod.core import mounts
from minipod.api import manifests
from minipod.errors import InvalidArgument, MinipodError
from minipod.objects.workloads import template_hash
from minipod.roles.controllers import replicasets
from minipod.roles.kubelet import backoff

from tests.unit.test_properties import ARGV_TEXT

DEPLOYMENT = yaml.safe_load("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      volumes:
      - {name: scratch, emptyDir: {}}
      containers:
      - name: httpd
        image: busybox
        command: [httpd, -f, -p, "80"]
        ports: [{containerPort: 80, name: http}]
        volumeMounts: [{name: scratch, mountPath: /scratch}]
""")


def _check(doc):
    return manifests.check([("t.yaml", doc)])


def _mutated(path, value):
    doc = copy.deepcopy(DEPLOYMENT)
    target = doc
    *parents, last = path
    for key in parents:
        target = target[key] if isinstance(target, list) else target.setdefault(key, {})
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


DELETE = object()
CTR = ["spec", "template", "spec", "containers", 0]

# (where, new value, what the one line must say): at least 15 kinds of mistake.
MISTAKES = [
    (["spec", "replicas"], "3", "spec.replicas: must be an integer"),
    (["spec", "replicas"], -1, "spec.replicas: must be 0-1000"),
    (["spec", "selector"], DELETE, "spec.selector: required value"),
    (["spec", "selector", "matchLabels"], {"app": "other"}, "spec.template.metadata.labels: Invalid value"),
    (["spec", "template", "spec", "containers"], [], "spec.template.spec.containers: required value"),
    (CTR + ["image"], DELETE, "spec.template.spec.containers[0].image: required value"),
    (CTR + ["name"], "Web_Server", "spec.template.spec.containers[0].name: must be a DNS label"),
    (CTR + ["ports", 0, "containerPort"], 70000, "spec.template.spec.containers[0].ports[0].containerPort: must be 1-65535"),
    (CTR + ["ports", 0, "protocol"], "HTTP", "containers[0].ports[0].protocol: must be one of TCP, UDP, SCTP"),
    (CTR + ["command"], "httpd -f", "spec.template.spec.containers[0].command: must be a list"),
    (CTR + ["imagePolicy"], "Always", "spec.template.spec.containers[0].imagePolicy: unknown field"),
    (CTR + ["volumeMounts", 0, "name"], "nope", "containers[0].volumeMounts[0].name: Not found: 'nope'"),
    (CTR + ["volumeMounts", 0, "mountPath"], "relative", "volumeMounts[0].mountPath: must be an absolute path"),
    (CTR + ["volumeMounts", 0, "subPath"], "../../etc", "volumeMounts[0].subPath: must be a relative path"),
    (CTR + ["env"], [{"name": "A", "valueFrom": {"secretKeyRef": {}}}], "env[0].valueFrom: minipod does not support"),
    (["spec", "template", "spec", "restartPolicy"], "Sometimes", "spec.template.spec.restartPolicy: must be one of"),
    (["spec", "template", "spec", "volumes", 0], {"name": "scratch"}, "volumes[0]: must have exactly one of"),
    (["spec", "template", "spec", "hostNetwork"], "yes", "spec.template.spec.hostNetwork: must be a boolean"),
    (["metadata", "name"], "Web", "metadata.name: must be a DNS subdomain"),
    (["metadata", "name"], "w" * 50, "metadata.name: too long"),
    (["spec", "strategy", "rollingUpdate", "maxSurge"], "125%", "spec.strategy.rollingUpdate.maxSurge: Invalid"),
    (["spec", "strategy", "rollingUpdate", "maxUnavailable"], -1, "maxUnavailable: Invalid value: -1"),
    (["spec", "template", "metadata", "labels"], {"app": "web", "bad key": "x"}, "invalid label key"),
]


def test_a_valid_deployment_passes():
    [(kind, obj)] = _check(copy.deepcopy(DEPLOYMENT))
    assert kind.kind == "Deployment" and obj["metadata"]["namespace"] == "default"


@pytest.mark.parametrize("path,value,message", MISTAKES, ids=[m[2][:40] for m in MISTAKES])
def test_each_mistake_is_one_line_naming_the_field(path, value, message):
    with pytest.raises(InvalidArgument) as err:
        _check(_mutated(path, value))
    text = str(err.value)
    assert message in text and "\n" not in text, text


def test_kubectl_get_o_yaml_fields_apply_unchanged():
    """What the API server fills in is accepted (and does what minipod does)."""
    doc = copy.deepcopy(DEPLOYMENT)
    doc["metadata"].update(uid="u", resourceVersion="7", generation=2, creationTimestamp="2026-01-01T00:00:00Z")
    doc["spec"].update(revisionHistoryLimit=10, progressDeadlineSeconds=600,
                       strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}})
    doc["spec"]["template"]["metadata"]["creationTimestamp"] = None
    doc["spec"]["template"]["spec"].update(dnsPolicy="ClusterFirst", restartPolicy="Always",
                                           schedulerName="default-scheduler", securityContext={},
                                           terminationGracePeriodSeconds=30)
    doc["spec"]["template"]["spec"]["containers"][0].update(
        imagePullPolicy="IfNotPresent", resources={}, terminationMessagePath="/dev/termination-log",
        terminationMessagePolicy="File")
    doc["status"] = {"replicas": 3, "readyReplicas": 3}
    [(_kind, obj)] = _check(doc)
    assert "status" not in obj


def test_pod_names_must_fit_minipods_names():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p" * 40, "namespace": "team-a"},
           "spec": {"containers": [{"name": "c" * 30, "image": "busybox"}]}}
    with pytest.raises(InvalidArgument, match=r"spec.containers\[0\].name: minipod names the container"):
        _check(pod)


def test_template_hash_is_stable_and_kubernetes_shaped():
    tpl = DEPLOYMENT["spec"]["template"]
    assert template_hash(tpl) == template_hash(copy.deepcopy(tpl))
    assert len(template_hash(tpl)) == 10 and set(template_hash(tpl)) <= set(replicasets.SUFFIX_ALPHABET)
    changed = copy.deepcopy(tpl)
    changed["spec"]["containers"][0]["image"] = "busybox:2"
    assert template_hash(changed) != template_hash(tpl)


def test_crash_loop_back_off_is_the_kubelets():
    delays, previous = [], None
    for _ in range(8):
        previous = backoff.next_delay(previous, ran_for=1.0)
        delays.append(previous)
    assert delays == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    assert backoff.next_delay(300.0, ran_for=600.0) == 0.0  # ran 10 minutes: start over
    assert backoff.next_delay(2.0, ran_for=1.0, base=1.0, cap=4.0) == 4.0


def test_restart_policies():
    assert backoff.should_restart("Always", 0, 5)
    assert backoff.should_restart("OnFailure", 1, 5) and not backoff.should_restart("OnFailure", 0, 5)
    assert not backoff.should_restart("Never", 1, 0)
    assert backoff.should_restart("on-failure", 2, 2, 3) and not backoff.should_restart("on-failure", 2, 3, 3)
    assert backoff.should_restart("unless-stopped", 0, 100) and not backoff.should_restart("no", 1, 0)


def test_restart_flag():
    assert spec.parse_restart("on-failure:3") == {"name": "on-failure", "max": 3}
    assert spec.parse_restart("always") == {"name": "always", "max": 0}
    for bad in ("sometimes", "always:3", "on-failure:0", "on-failure:-1", "on-failure:x", "on-failure:٣"):
        with pytest.raises(InvalidArgument):
            spec.parse_restart(bad)


def test_volume_flags_like_docker():
    assert mounts.parse_volume("/srv/www:/usr/share/www:ro") == {
        "type": "bind", "source": "/srv/www", "target": "/usr/share/www", "readonly": True,
        "subpath": None, "options": ""}
    assert mounts.parse_volume("data:/var/lib/data")["type"] == "volume"
    assert mounts.parse_mount("type=tmpfs,target=/run,tmpfs-size=1m,tmpfs-mode=1770")["options"] == \
        "size=1048576,mode=1770"
    assert mounts.parse_mount("type=volume,src=data,dst=/d,readonly")["readonly"] is True
    assert mounts.parse_tmpfs("/scratch:size=1m,exec")["options"] == "size=1m,exec"
    for bad in ("/a", "/a:b", "/a:/b:rx", "/a:/", "../x:/y", "a b:/c"):
        with pytest.raises(InvalidArgument):
            mounts.parse_volume(bad)
    for bad in ("type=bind,target=/x", "type=bind,source=vol,target=/x", "type=tmpfs,source=/a,target=/x",
                "type=nfs,target=/x", "type=volume,source=v,target=/x,volume-subpath=/abs", "target=/x,colour=red"):
        with pytest.raises(InvalidArgument):
            mounts.parse_mount(bad)
    with pytest.raises(InvalidArgument, match="duplicate mount point"):
        mounts.parse_all(["/a:/x"], [], ["/x"])


@given(ARGV_TEXT)
def test_volume_flags_never_crash(text):
    for parse in (mounts.parse_volume, mounts.parse_mount, mounts.parse_tmpfs, spec.parse_restart):
        try:
            parse(text)
        except MinipodError:
            pass


@pytest.mark.parametrize("args,flags,command", [
    (["--", "ls", "-l"], {}, ["ls", "-l"]),
    (["-c", "web", "--", "sh", "-c", "x"], {"container": "web"}, ["sh", "-c", "x"]),
    (["-c", "web", "cat", "/f"], {"container": "web"}, ["cat", "/f"]),
    (["-it", "-n", "tutorial", "--", "sh"], {"interactive": True, "tty": True, "namespace": "tutorial"}, ["sh"]),
    (["--container=b", "--stdin", "--", "true"], {"container": "b", "interactive": True}, ["true"]),
])
def test_kubectl_exec_flags_after_the_pod(args, flags, command):
    from minipod.api import targets
    got, cmd = targets.split_exec_args(args)
    assert cmd == command and {k: v for k, v in got.items() if v} == flags


def test_kubectl_exec_refuses_words_before_the_double_dash():
    from minipod.api import targets
    with pytest.raises(InvalidArgument, match="before --"):
        targets.split_exec_args(["-c", "web", "ls", "--", "x"])
    with pytest.raises(InvalidArgument, match="needs an argument"):
        targets.split_exec_args(["-c"])


@pytest.mark.parametrize("refs,selector,all_,want", [
    (["pod/web"], None, False, ("pod", ["web"])),
    (["pod"], "app=web", False, ("pod", [])),
    (["pods"], None, True, ("pod", [])),
    ([], "app=web", False, ("pod", [])),
    (["deployment/web", "deploy/web2"], None, False, ("deployment", ["web", "web2"])),
    (["pod", "a", "b"], None, False, ("pod", ["a", "b"])),
])
def test_wait_takes_kubectls_forms(refs, selector, all_, want):
    from minipod.api import waiting
    assert waiting.parse_refs(refs, selector, all_) == want


@pytest.mark.parametrize("refs,selector,all_", [
    (["pod"], None, False), (["svc/web"], None, False), (["pod/a", "deploy/b"], None, False),
    (["pod/a"], "app=x", False), ([], None, False), (["web"], None, False)])
def test_wait_refuses_what_kubectl_refuses(refs, selector, all_):
    from minipod.api import waiting
    with pytest.raises(InvalidArgument):
        waiting.parse_refs(refs, selector, all_)
