"""minipod's CRI server through a gRPC client of the stubs generated at
set-up from Debian's Kubernetes source, in both API versions the kubelets
speak (runtime.v1alpha2 for kubelet 1.20, runtime.v1 for current ones):
runtime info, pod sandboxes (pause + the node's CNI network) and images,
with the contract's idempotent calls and error codes."""

import importlib
import json
import os

import grpc
import pytest

from tests.conftest import TEST_ROOT
from tests.integration.conftest import leaks, mp, mp_json

VERSIONS = ["v1", "v1alpha2"]
SOCKET = TEST_ROOT / "run" / "cri.sock"


@pytest.fixture(scope="module")
def server():
    mp("cri", "start")
    yield f"unix://{SOCKET}"
    mp("cri", "stop")


@pytest.fixture(params=VERSIONS)
def cri(request, server):
    """(messages, RuntimeService stub, ImageService stub) of one version."""
    pb = importlib.import_module(f"minipod_cri.{request.param}.api_pb2")
    stubs = importlib.import_module(f"minipod_cri.{request.param}.api_pb2_grpc")
    channel = grpc.insecure_channel(server)
    yield pb, stubs.RuntimeServiceStub(channel), stubs.ImageServiceStub(channel)
    channel.close()


def sandbox_config(pb, name="web", uid="5f1c0d0e-0000-4000-8000-000000000001", attempt=0, **extra):
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace="tutorial", uid=uid, attempt=attempt),
        hostname=name, log_directory=str(TEST_ROOT / "pod-logs" / uid),
        dns_config=pb.DNSConfig(servers=["10.96.0.10"], searches=["tutorial.svc.cluster.local"], options=["ndots:5"]),
        labels={"app": name, "io.kubernetes.pod.name": name}, annotations={"note": "from the kubelet"}, **extra)


def left():
    """What leaked, but for the CRI server itself (it serves the module's tests)."""
    return [x for x in leaks() if not x.startswith("CRI server process")]


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code()


def test_version_and_status_in_both_versions(cri):
    pb, rt, _ = cri
    version = rt.Version(pb.VersionRequest())
    assert version.runtime_name == "minipod" and version.runtime_api_version in VERSIONS
    conditions = {c.type: c.status for c in rt.Status(pb.StatusRequest()).status.conditions}
    assert conditions == {"RuntimeReady": True, "NetworkReady": True}


def test_a_sandbox_is_a_pod_with_pause_and_the_nodes_network(cri):
    pb, rt, _ = cri
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config(pb))).pod_sandbox_id
    status = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert status.state == pb.SANDBOX_READY and status.metadata.name == "web"
    assert status.network.ip.startswith("10.231.0.")  # the test network's subnet
    assert dict(status.annotations) == {"note": "from the kubelet"} and status.labels["app"] == "web"
    # minipod's own views show it, with the kubelet's labels
    [shown] = mp_json("pod", "inspect", sid)
    assert shown["Name"] == "tutorial_web_5f1c0d0e_0" and shown["State"] == "running"
    with open(f"/proc/{shown['PausePid']}/status") as f:  # pause is PID 1 of the sandbox's PID namespace
        assert f.read().split("NSpid:")[1].splitlines()[0].split()[-1] == "1"
    # the kubelet's DNS config is the pod's resolv.conf, its hostname the pod's
    assert mp("run", "--rm", "--pod", sid, "busybox", "cat", "/etc/resolv.conf", "/etc/hostname").stdout == \
        "search tutorial.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\nweb\n"
    # the agent and gc leave it alone: it is the kubelet's
    assert mp("gc", "--dry-run", check=False).stdout == ""
    listed = rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={"app": "web"})))
    assert [s.id for s in listed.items] == [sid]
    assert rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(id=sid[:12]))).items[0].id == sid
    none = pb.PodSandboxFilter(label_selector={"app": "other"})
    assert not rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=none)).items

    # stop: containers and pause gone, network released; twice is no error
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    status = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert status.state == pb.SANDBOX_NOTREADY
    ready = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY))
    assert not rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=ready)).items
    cache = TEST_ROOT / "lib" / "cni" / "results"
    assert not (cache.is_dir() and any(cache.iterdir())), "the stopped sandbox still holds its network"

    # remove: nothing of it is left; twice is no error; then it is unknown
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert code_of(lambda: rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid))) == \
        grpc.StatusCode.NOT_FOUND
    assert not rt.ListPodSandbox(pb.ListPodSandboxRequest()).items
    assert mp("pod", "ls", "-q").stdout.strip() == ""
    assert not left()


def test_host_ports_and_bad_sandboxes(cri):
    pb, rt, _ = cri
    mapping = pb.PortMapping(protocol=pb.TCP, container_port=80, host_port=18981)
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config(pb, port_mappings=[mapping]))).pod_sandbox_id
    [shown] = mp_json("pod", "inspect", sid)
    assert "18981" in json.dumps(shown)
    # the same sandbox (name, namespace, uid, attempt) twice: refused, the first one untouched
    assert code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config(pb)))) == \
        grpc.StatusCode.ALREADY_EXISTS
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    # bad input: one clear error, nothing made
    no_uid = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="x", namespace="y"))
    assert code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=no_uid))) == \
        grpc.StatusCode.INVALID_ARGUMENT
    sctp = pb.PortMapping(protocol=pb.SCTP, container_port=80, host_port=18982)
    assert code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(
        config=sandbox_config(pb, name="sctp", port_mappings=[sctp])))) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id="f" * 64))) == \
        grpc.StatusCode.NOT_FOUND
    assert mp("pod", "ls", "-q").stdout.strip() == "" and not left()


def test_images_resolve_the_kubelets_names_locally(cri):
    pb, _, im = cri
    spec = pb.ImageSpec(image="docker.io/library/busybox:latest")
    status = im.ImageStatus(pb.ImageStatusRequest(image=spec))
    assert status.HasField("image") and "busybox" in status.image.repo_tags and status.image.size > 0
    assert im.PullImage(pb.PullImageRequest(image=spec)).image_ref == status.image.id  # local: nothing pulled
    by_id = im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=status.image.id)))
    assert by_id.image.id == status.image.id
    assert "busybox" in {t for i in im.ListImages(pb.ListImagesRequest()).images for t in i.repo_tags}
    absent = pb.ImageSpec(image="docker.io/library/absent:1.0")
    assert not im.ImageStatus(pb.ImageStatusRequest(image=absent)).HasField("image")  # absent: no error
    im.RemoveImage(pb.RemoveImageRequest(image=absent))  # idempotent
    [fs] = im.ImageFsInfo(pb.ImageFsInfoRequest()).image_filesystems
    assert fs.used_bytes.value > 0 and fs.inodes_used.value > 0


def test_the_socket_is_roots_only(server):
    assert SOCKET.exists() and (os.stat(SOCKET).st_mode & 0o777) == 0o600
    assert "running" in mp("cri", "status").stdout
