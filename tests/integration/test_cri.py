"""minipod's CRI server through a gRPC client of the stubs generated at
set-up from Debian's Kubernetes source, in both API versions the kubelets
speak (runtime.v1alpha2 for kubelet 1.20, runtime.v1 for current ones):
runtime info, pod sandboxes (pause + the node's CNI network) and images,
with the contract's idempotent calls and error codes."""

import importlib
import os
import re
import shutil
import time
from pathlib import Path

import grpc
import pytest

from tests.conftest import TEST_ROOT
from tests.integration.conftest import leaks, mp, mp_json, sh, wait_for

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
    assert shown["Ports"] == ["0.0.0.0:18981->80/tcp"]  # the kubelet's hostPort, published by portmap
    # the same sandbox (name, namespace, uid, attempt) twice: refused, the first one untouched
    assert code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config(pb)))) == \
        grpc.StatusCode.ALREADY_EXISTS
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    # a pod on the host's network gets its ports as mappings too (the kubelet sends them): its processes bind
    # the host's ports themselves, so nothing is published, as with containerd
    host = pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
        namespace_options=pb.NamespaceOption(network=pb.NODE)))
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox_config(
        pb, name="hostnet", port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=18983, host_port=18983)],
        linux=host))).pod_sandbox_id
    [shown] = mp_json("pod", "inspect", sid)
    assert shown["Ports"] == [] and "18983" not in sh("iptables-save -t nat").stdout
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
    assert status.HasField("image") and "docker.io/library/busybox:latest" in status.image.repo_tags and \
        status.image.size > 0  # normalised, as containerd and CRI-O report them
    assert im.PullImage(pb.PullImageRequest(image=spec)).image_ref == status.image.id  # local: nothing pulled
    by_id = im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=status.image.id)))
    assert by_id.image.id == status.image.id
    assert "docker.io/library/busybox:latest" in {t for i in im.ListImages(pb.ListImagesRequest()).images
                                                  for t in i.repo_tags}
    absent = pb.ImageSpec(image="docker.io/library/absent:1.0")
    assert not im.ImageStatus(pb.ImageStatusRequest(image=absent)).HasField("image")  # absent: no error
    im.RemoveImage(pb.RemoveImageRequest(image=absent))  # idempotent
    [fs] = im.ImageFsInfo(pb.ImageFsInfoRequest()).image_filesystems
    assert fs.used_bytes.value > 0 and fs.inodes_used.value > 0


def test_the_socket_is_roots_only(server):
    assert SOCKET.exists() and (os.stat(SOCKET).st_mode & 0o777) == 0o600
    assert "running" in mp("cri", "status").stdout


def container_config(pb, name="app", command=("sh", "-c", "echo out; echo err >&2; printf partial; exec sleep 300"),
                     **extra):
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                              image=pb.ImageSpec(image="docker.io/library/busybox:latest"), command=list(command),
                              envs=[pb.KeyValue(key="GREETING", value="hello")], log_path=f"{name}/0.log",
                              labels={"io.kubernetes.container.name": name}, **extra)


def wait_for_state(rt, pb, cid, state, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
        if status.state == state:
            return status
        time.sleep(0.05)
    raise AssertionError(f"container {cid[:12]} never reached state {state}: {status}")


def test_a_container_is_created_started_logged_execd_stopped_and_removed(cri):
    import time
    pb, rt, _ = cri
    config = sandbox_config(pb)
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=container_config(pb),
                                                       sandbox_config=config)).container_id
    status = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    assert status.state == pb.CONTAINER_CREATED and status.metadata.name == "app" and status.started_at == 0
    assert mp("gc", "--dry-run", check=False).stdout == ""  # created, not started: the kubelet's, not a leak
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    status = wait_for_state(rt, pb, cid, pb.CONTAINER_RUNNING)
    assert status.started_at > 0 and status.log_path == f"{config.log_directory}/app/0.log"
    assert code_of(lambda: rt.StartContainer(pb.StartContainerRequest(container_id=cid))) == \
        grpc.StatusCode.FAILED_PRECONDITION  # it starts once
    # ExecSync: output, exit code, the container's environment; a timeout kills the command
    done = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo $GREETING; echo no >&2; exit 3"]))
    assert (done.stdout, done.stderr, done.exit_code) == (b"hello\n", b"no\n", 3)
    began = time.monotonic()
    assert code_of(lambda: rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sleep", "30"], timeout=1))) == \
        grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - began < 10
    # stats from the container's cgroup, for the kubelet's eviction manager and `kubectl top`
    stats = rt.ContainerStats(pb.ContainerStatsRequest(container_id=cid)).stats
    assert stats.attributes.id == cid and stats.cpu.usage_core_nano_seconds.value > 0
    assert stats.memory.working_set_bytes.value > 0 and stats.writable_layer.fs_id.mountpoint
    listed = rt.ListContainerStats(pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter(pod_sandbox_id=sid)))
    assert [s.attributes.id for s in listed.stats] == [cid]
    # the log, in the CRI's format: full lines (F) and the unfinished one as a part (P) once the container ends
    log = config.log_directory + "/app/0.log"
    lines = open(log).read().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
    assert any(re.fullmatch(stamp + " stdout F out", l) for l in lines), lines
    assert any(re.fullmatch(stamp + " stderr F err", l) for l in lines), lines
    listed = rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(
        pod_sandbox_id=sid, state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING))))
    assert [c.id for c in listed.containers] == [cid] and listed.containers[0].pod_sandbox_id == sid
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=1))
    status = wait_for_state(rt, pb, cid, pb.CONTAINER_EXITED)
    assert status.exit_code in (137, 143) and status.reason == "Error" and status.finished_at >= status.started_at
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=1))  # stopped already: no error
    deadline = time.monotonic() + 5  # the writer drains the pipes once the container is gone
    while not open(log).read().endswith(" stdout P partial\n") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open(log).read().endswith(" stdout P partial\n")
    rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
    rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))  # idempotent
    assert code_of(lambda: rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid))) == \
        grpc.StatusCode.NOT_FOUND
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert not left()


def test_containers_refused_where_they_cannot_be(cri):
    pb, rt, _ = cri
    config = sandbox_config(pb, name="refusals", uid="5f1c0d0e-0000-4000-8000-000000000002")
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    absent = container_config(pb, name="absent")
    absent.image.image = "docker.io/library/absent:1.0"
    assert code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=sid, config=absent, sandbox_config=config))) == grpc.StatusCode.NOT_FOUND
    done = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=container_config(
        pb, name="done", command=["true"]), sandbox_config=config)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=done))
    status = wait_for_state(rt, pb, done, pb.CONTAINER_EXITED)
    assert (status.exit_code, status.reason) == (0, "Completed")
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    assert code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=sid, config=container_config(pb, name="late"), sandbox_config=config))) == \
        grpc.StatusCode.FAILED_PRECONDITION  # no container in a stopped sandbox
    rt.StopContainer(pb.StopContainerRequest(container_id="f" * 64))  # idempotent: an unknown one is stopped
    for call in (lambda: rt.StartContainer(pb.StartContainerRequest(container_id="f" * 64)),
                 lambda: rt.ExecSync(pb.ExecSyncRequest(container_id="f" * 64, cmd=["true"])),
                 lambda: rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id="f" * 64,
                                                                      config=container_config(pb)))):
        assert code_of(call) == grpc.StatusCode.NOT_FOUND
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert not rt.ListContainers(pb.ListContainersRequest()).containers
    assert mp("ps", "-aq").stdout.strip() == "" and not left()


CRASH_STEPS = ["pod-create-recorded", "pod-pause-started", "pod-netns-pinned", "cni-plugin-added",
               "pod-network-added", "container-recorded"]


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_a_server_killed_mid_call_leaves_nothing_gc_does_not_release(step):
    """SIGKILL of the CRI server at each step of RunPodSandbox and
    CreateContainer (MINIPOD_FAULT's kill points): the call fails, and gc
    releases what it left; the next server serves."""
    mp("cri", "stop")
    mp("cri", "start", env={"MINIPOD_FAULT": step})
    pb = importlib.import_module("minipod_cri.v1alpha2.api_pb2")  # the kubelet 1.20's version
    stubs = importlib.import_module("minipod_cri.v1alpha2.api_pb2_grpc")
    with grpc.insecure_channel(f"unix://{SOCKET}") as channel:
        rt = stubs.RuntimeServiceStub(channel)
        config = sandbox_config(pb, name="crash", uid=f"5f1c0d0e-0000-4000-8000-{CRASH_STEPS.index(step):012d}")
        with pytest.raises(grpc.RpcError) as e:
            sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config), timeout=60).pod_sandbox_id
            rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=container_config(pb),
                                                         sandbox_config=config), timeout=60)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE  # the server died mid-call
    mp("gc")
    for pid in mp("pod", "ls", "-q").stdout.split():  # a whole sandbox is the kubelet's to remove, as it would
        mp("pod", "rm", "-f", pid)
    assert not left(), left()
    mp("cri", "start")
    assert "running" in mp("cri", "status").stdout


def test_security_settings_are_honoured_or_refused(cri):
    pb, rt, _ = cri
    config = sandbox_config(pb, name="secure", uid="5f1c0d0e-0000-4000-8000-000000000003")
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id

    def create(name, **ctx):
        cfg = container_config(pb, name=name, linux=pb.LinuxContainerConfig(
            security_context=pb.LinuxContainerSecurityContext(**ctx)))
        return rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=cfg, sandbox_config=config))
    for name, ctx, want in [("plain", {}, "unconfined"),  # the CRI: an empty profile is unconfined
                            ("default", {"seccomp": pb.SecurityProfile(profile_type=0)}, "default"),
                            ("legacy", {"seccomp_profile_path": "runtime/default"}, "default")]:
        cid = create(name, **ctx).container_id
        assert mp_json("inspect", cid)[0]["HostConfig"]["SecurityOpt"] == [f"seccomp={want}"], name
        # honoured means the kernel's word: a filter on the running process (Seccomp: 2), or none (0)
        rt.StartContainer(pb.StartContainerRequest(container_id=cid))
        pid = mp_json("inspect", cid)[0]["State"]["Pid"]
        with open(f"/proc/{pid}/status") as f:
            mode = next(line.split()[1] for line in f if line.startswith("Seccomp:"))
        assert mode == ("0" if want == "unconfined" else "2"), (name, mode)
    for ctx in ({"apparmor_profile": "localhost/k8s-nginx"}, {"seccomp_profile_path": "localhost/relative.json"},
                {"run_as_group": pb.Int64Value(value=5)},  # a group without a user
                {"namespace_options": pb.NamespaceOption(pid=pb.NODE)}):  # the host's PID namespace, not the pod's
        assert code_of(lambda: create("refused", **ctx)) == grpc.StatusCode.INVALID_ARGUMENT, ctx
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert mp("ps", "-aq").stdout.strip() == "" and not left()


def _channel_session(url, send=b"", protocol="v5.channel.k8s.io"):
    """A WebSocket client of the channel protocol (kubectl's since 1.30) at a
    streaming URL: what it received, as (stream, data) pairs, stdin sent and closed first."""
    import asyncio

    import aiohttp

    async def run():
        async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=[protocol]) as ws:
            if send:
                await ws.send_bytes(b"\x00" + send)
                await ws.send_bytes(b"\xff\x00")  # v5: stdin closed
            return [(m.data[0], m.data[1:]) async for m in ws if m.type == aiohttp.WSMsgType.BINARY]
    return asyncio.run(asyncio.wait_for(run(), 30))


def test_exec_and_attach_stream_through_the_url_the_call_hands_out(cri):
    import json
    import urllib.error
    import urllib.request
    pb, rt, _ = cri
    config = sandbox_config(pb, name="streams", uid="5f1c0d0e-0000-4000-8000-000000000004")
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    shell = container_config(pb, name="shell", command=["sh"], stdin=True, stdin_once=True)
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=shell,
                                                       sandbox_config=config)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_for_state(rt, pb, cid, pb.CONTAINER_RUNNING)

    # Exec: a URL of the runtime's streaming server, on the node's loopback, good once
    url = rt.Exec(pb.ExecRequest(container_id=cid, cmd=["sh", "-c", "echo $GREETING; echo no >&2; exit 3"],
                                 stdout=True, stderr=True)).url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/exec/[\w-]+", url), url
    got = _channel_session(url.replace("http://", "ws://"))
    assert [d for s, d in got if s == 1] == [b"hello\n"] and [d for s, d in got if s == 2] == [b"no\n"]
    [(_, status)] = [(s, d) for s, d in got if s == 3]
    assert json.loads(status)["details"]["causes"][0]["message"] == "3"  # the exit code kubectl exits with
    with pytest.raises(urllib.error.HTTPError) as e:  # the token was used
        urllib.request.urlopen(url, timeout=10)
    assert e.value.code == 404

    # Attach: the container's own stdin and output; stdin_once: it ends when that stdin closes
    url = rt.Attach(pb.AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)).url
    got = _channel_session(url.replace("http://", "ws://"), send=b"echo attached; echo oops >&2\n")
    assert (1, b"attached\n") in got and (2, b"oops\n") in got
    status = wait_for_state(rt, pb, cid, pb.CONTAINER_EXITED)
    assert status.exit_code == 0  # sh read EOF
    lines = open(config.log_directory + "/shell/0.log").read()
    assert " stdout F attached\n" in lines and " stderr F oops\n" in lines

    # a terminal: its console writes the CRI log too
    tty = container_config(pb, name="tty", command=["sh", "-c", "echo on a terminal; sleep 300"], tty=True)
    tid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=tty,
                                                       sandbox_config=config)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=tid))
    tty_log = Path(config.log_directory) / "tty" / "0.log"
    wait_for(lambda: tty_log.exists() and b" stdout F on a terminal\r\n" in tty_log.read_bytes(),
             what="the terminal's line in the CRI log")  # \r\n: a terminal's line end
    got = _channel_session(rt.Exec(pb.ExecRequest(container_id=tid, cmd=["tty"], stdout=True, tty=True,
                                                  stdin=True)).url.replace("http://", "ws://"), send=b"")
    assert b"".join(d for s, d in got if s == 1).startswith(b"/dev/pts/")

    # refused: no stream, a terminal with a separate stderr, a container not running, an unknown one
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id=tid, cmd=["true"]))) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id=tid, cmd=["true"], tty=True, stdout=True,
                                                  stderr=True))) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: rt.Attach(pb.AttachRequest(container_id=cid, stdout=True))) == \
        grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id="f" * 64, cmd=["true"], stdout=True))) == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: rt.PortForward(pb.PortForwardRequest(pod_sandbox_id="f" * 64))) == \
        grpc.StatusCode.NOT_FOUND
    assert "/portforward/" in rt.PortForward(pb.PortForwardRequest(pod_sandbox_id=sid)).url
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert mp("ps", "-aq").stdout.strip() == "" and not left()


def _run_and_read(rt, pb, sid, config, name, command, **ctx):
    """Run ``command`` in a new container of the sandbox with security
    context ``ctx``; (its exit code, its log's lines without the CRI prefix)."""
    cfg = container_config(pb, name=name, command=command, linux=pb.LinuxContainerConfig(
        security_context=pb.LinuxContainerSecurityContext(**ctx)))
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=cfg,
                                                       sandbox_config=config)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    status = wait_for_state(rt, pb, cid, pb.CONTAINER_EXITED)
    log = Path(config.log_directory) / name / "0.log"
    wait_for(lambda: log.exists(), what=f"{name}'s log")
    return status.exit_code, [line.split(" ", 3)[3] for line in log.read_text().splitlines()]


def test_the_security_context_as_kubernetes_means_it(cri):
    """Each container's own PID namespace (Kubernetes' default), or the
    pod's; supplemental groups and a user by name from the image's own
    files; a read-only root; masked paths; and the sandbox's namespaced
    sysctls and host IPC namespace."""
    pb, rt, _ = cri
    config = sandbox_config(pb, name="ctx", uid="5f1c0d0e-0000-4000-8000-000000000005",
                            linux=pb.LinuxPodSandboxConfig(
                                sysctls={"net.ipv4.ip_local_port_range": "20000 21000"},
                                security_context=pb.LinuxSandboxSecurityContext(
                                    namespace_options=pb.NamespaceOption(ipc=pb.NODE))))
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    host_ipc = os.readlink("/proc/self/ns/ipc")
    own = _run_and_read(rt, pb, sid, config, "own", ["sh", "-c", "echo $$; readlink /proc/1/exe"],
                        namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))
    assert own == (0, ["1", "/bin/busybox"])  # PID 1 of its own namespace is the container itself
    shared = _run_and_read(rt, pb, sid, config, "shared", ["cat", "/proc/1/comm"],
                           namespace_options=pb.NamespaceOption(pid=pb.POD))
    assert shared == (0, ["pause"])  # the pod's: pause is PID 1
    ids = _run_and_read(rt, pb, sid, config, "ids", ["id"], run_as_username="nobody", supplemental_groups=[1234])
    assert ids[1][0].startswith("uid=65534(nobody) gid=65534") and "1234" in ids[1][0], ids
    ro = _run_and_read(rt, pb, sid, config, "ro", ["sh", "-c", "touch /x || echo refused; touch /dev/shm/x && echo shm"],
                       readonly_rootfs=True)
    assert ro[1][-2:] == ["refused", "shm"], ro  # /dev/shm and the like stay writable
    masked = _run_and_read(rt, pb, sid, config, "masked", ["sh", "-c", "cat /etc/hostname; wc -c < /proc/version"],
                           masked_paths=["/proc/version"])
    assert masked == (0, ["ctx", "0"])
    sysctls = _run_and_read(rt, pb, sid, config, "sysctls", ["sh", "-c", "cat /proc/sys/net/ipv4/ip_local_port_range; "
                                                                         "readlink /proc/self/ns/ipc"])
    assert sysctls == (0, ["20000\t21000", host_ipc]), sysctls
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        assert f.read().split() != ["20000", "21000"]  # the host's own is untouched
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    shutil.rmtree(config.log_directory)  # the kubelet's to remove, as it does
    host_ipc_options = pb.LinuxSandboxSecurityContext(namespace_options=pb.NamespaceOption(ipc=pb.NODE))
    for linux in (pb.LinuxPodSandboxConfig(sysctls={"kernel.panic": "1"}),  # the whole host's
                  pb.LinuxPodSandboxConfig(sysctls={"kernel.shm_rmid_forced": "1"},  # of the host's IPC namespace
                                           security_context=host_ipc_options)):
        bad = sandbox_config(pb, name="badsysctl", uid="5f1c0d0e-0000-4000-8000-000000000006", linux=linux)
        assert code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=bad))) == \
            grpc.StatusCode.INVALID_ARGUMENT
    assert mp("pod", "ls", "-q").stdout.strip() == "" and not left()


def test_devices_and_resources_updated_in_place(cri):
    pb, rt, _ = cri
    config = sandbox_config(pb, name="dev", uid="5f1c0d0e-0000-4000-8000-000000000007")
    sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    sh("modprobe loop", check=False)  # the loop driver's nodes: devices no container gets by default
    cfg = container_config(pb, name="dev", command=["sleep", "300"],
                           devices=[pb.Device(host_path="/dev/loop0", container_path="/dev/extra/readable",
                                              permissions="r"),
                                    pb.Device(host_path="/dev/loop1", container_path="/dev/extra/closed",
                                              permissions="m")],
                           linux=pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(
                               memory_limit_in_bytes=64 << 20)))
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=cfg,
                                                       sandbox_config=config)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    wait_for_state(rt, pb, cid, pb.CONTAINER_RUNNING)
    listed = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["ls", "-l", "/dev/extra"])).stdout.decode()
    assert re.search(r"^b.* 7, +0 .* readable$", listed, re.M) and re.search(r"^b.* 7, +1 .* closed$", listed, re.M)
    read = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["dd", "if=/dev/extra/readable", "of=/dev/null",
                                                                 "count=0"]))
    assert read.exit_code == 0, read.stderr  # opened for reading, as allowed
    for path, flag in (("/dev/extra/readable", "of"), ("/dev/extra/closed", "if")):  # the device cgroup refuses
        denied = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["dd", f"{flag}={path}", "count=0"]))
        assert denied.exit_code != 0 and b"not permitted" in denied.stderr, (path, denied.stderr)

    def limit():
        return mp_json("stats", "--no-stream", "--format", "json", cid)[0]["MemLimitBytes"]
    before = limit()
    rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=cid, linux=pb.LinuxContainerResources(memory_limit_in_bytes=96 << 20)))
    assert (before, limit()) == (64 << 20, 96 << 20)
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert mp("ps", "-aq").stdout.strip() == "" and not left()


def test_a_server_not_ready_in_time_is_stopped_not_left_behind(tmp_path, monkeypatch):
    """`cri start` (and `cluster join`) gives up after its timeout with one
    error: the server it started must not come up behind that error (a VM
    under emulation met it: the next join found "a CRI server runs already")."""
    from minipod import cri
    from minipod.errors import MinipodError
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))  # a root of its own: the module's server is untouched
    with pytest.raises(MinipodError, match="did not start"):
        cri.ensure_running(timeout=0.05)  # far less than grpcio's import
    time.sleep(1)
    assert cri.running() is None
    mark = f"MINIPOD_ROOT={tmp_path}".encode()
    left_running = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    left_running.append(pid)
        except OSError:
            pass
    assert not left_running, left_running
    assert not list(tmp_path.rglob("cri.sock"))
