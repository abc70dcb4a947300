"""What a newcomer runs into, said where kubectl users look: an Ingress that
cannot be served (apply's Warning line, describe's Events, no ADDRESS), a
Pod whose image does not exist (ErrImagePull, then ImagePullBackOff, with
its Events), and pods reached by their own names in exec and logs."""

import json

from tests.integration.conftest import mp, wait_for

INGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "lonely"},
           "spec": {"rules": [{"host": "lonely.info", "http": {"paths": [
               {"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "nobody", "port": {"number": 80}}}}]}}]}}


def apply(obj):
    return mp("apply", "-f", "-", input=json.dumps(obj))


def test_an_ingress_that_cannot_be_served_says_why():
    # The suite's root has no nginx image (scripts/setup imports one into a newcomer's).
    out = apply(INGRESS)
    assert out.stdout == "ingress/lonely created\n"
    warnings = [l for l in out.stderr.splitlines() if l.startswith("Warning: ")]
    assert any('there is no "nginx" image' in w for w in warnings), out.stderr
    assert any('service "default/nobody" not found' in w for w in warnings), out.stderr
    described = mp("describe", "ingress", "lonely").stdout
    events = described[described.index("Events:"):]
    assert "Warning  NoController" in events and "Warning  NoService" in events, events
    row = mp("get", "ingress", "lonely").stdout.splitlines()[1].split()
    assert row[:3] == ["lonely", "<none>", "lonely.info"] and row[3] == "80", row  # no ADDRESS
    mp("delete", "ingress", "lonely")


def test_a_pod_whose_image_is_missing_shows_err_image_pull_then_back_off():
    out = apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "typo"},
                 "spec": {"containers": [{"name": "c", "image": "bsybox", "command": ["true"]}]}})
    assert 'Warning: pod default/typo: no image "bsybox" on this node' in out.stderr, out.stderr

    def status():
        rows = mp("get", "pods", "typo").stdout.splitlines()
        return rows[1].split()[2] if len(rows) > 1 else None
    wait_for(lambda: status() in ("ErrImagePull", "ImagePullBackOff"), timeout=30, what="ErrImagePull")
    wait_for(lambda: status() == "ImagePullBackOff", timeout=30, what="ImagePullBackOff")
    described = mp("describe", "pod", "typo").stdout
    events = described[described.index("Events:"):]
    assert 'Warning  Failed' in events and 'Failed to pull image "bsybox": no such image: bsybox' in events, events
    assert 'Back-off pulling image "bsybox"' in events and "(x" in events, events
    st = mp("get", "pod", "typo", "-o", "json")
    waiting = json.loads(st.stdout)["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ImagePullBackOff"
    mp("delete", "pod", "typo")


def test_exec_and_logs_take_a_pods_name_with_and_without_dash_c():
    apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "duo"},
           "spec": {"terminationGracePeriodSeconds": 1, "containers": [
               {"name": "first", "image": "busybox", "command": ["sh", "-c", "echo from first; exec sleep 3600"]},
               {"name": "second", "image": "busybox", "command": ["sh", "-c", "echo from second; exec sleep 3600"]}]}})
    apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "solo"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "solo"}},
                    "template": {"metadata": {"labels": {"app": "solo"}},
                                 "spec": {"terminationGracePeriodSeconds": 1,
                                          "containers": [{"name": "only", "image": "busybox",
                                                          "command": ["sh", "-c", "echo from solo; exec sleep 3600"]}]}}}})
    mp("wait", "--for=condition=Ready", "pod/duo", "--timeout", "60")
    mp("wait", "--for=condition=Available", "deployment/solo", "--timeout", "60")
    # several containers, no -c: the first, with kubectl's note on stderr
    out = mp("logs", "duo")
    assert out.stdout == "from first\n" and 'Defaulted container "first" out of: first, second' in out.stderr
    assert mp("logs", "duo", "-c", "second").stdout == "from second\n"
    assert mp("logs", "pod/duo", "-c", "second").stdout == "from second\n"
    assert mp("exec", "duo", "-c", "second", "--", "sh", "-c", "echo $HOSTNAME").stdout == "duo\n"
    # (its own PID namespace, as on Kubernetes: PID 1 is its app)
    assert mp("exec", "-c", "first", "duo", "cat", "/proc/1/comm").stdout == "sleep\n"
    # one container: that one, no note; deploy/NAME picks its pod
    out = mp("logs", "deploy/solo")
    assert out.stdout == "from solo\n" and out.stderr == ""
    assert mp("exec", "deploy/solo", "--", "echo", "ok").stdout == "ok\n"
    # docker's names still work
    assert mp("logs", "default_duo_second").stdout == "from second\n"
    bad = mp("exec", "duo", "-c", "third", "--", "true", check=False)
    assert bad.returncode == 125 and bad.stderr == "minipod: container third is not valid for pod duo\n"
    bad = mp("logs", "pod/nope", check=False)
    assert bad.returncode == 125 and bad.stderr.strip() == 'minipod: pods "nope" not found'
    mp("delete", "pod", "duo")
    mp("delete", "deployment", "solo")
