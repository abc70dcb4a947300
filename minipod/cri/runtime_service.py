"""The CRI's RuntimeService over minipod's pods and containers, for one
API version's messages (runtime.v1 or runtime.v1alpha2: every message used
here has the same fields in both). Each RPC runs in one of the gRPC
server's threads; minipod's own locks keep it consistent with the CLI and
the agent."""

import time

from minipod import __version__, paths
from minipod.cni import network
from minipod.core import container, execution, pod, removal
from minipod.cri import containers, images, sandboxes
from minipod.cri.rpc import mount_point, ns, rpc, usage_of
from minipod.errors import InvalidArgument, InvalidState, MinipodError, NotFound


def _sandbox_record(sandbox_id: str) -> dict:
    """The pod record of a sandbox this server made (NotFound otherwise)."""
    if not sandbox_id:
        raise NotFound("no sandbox id given")
    rec = pod.store().load(sandbox_id) if len(sandbox_id) == 64 else None
    if rec is None:
        hits = [r for r in pod.store().all() if sandboxes.is_sandbox(r) and r["id"].startswith(sandbox_id)]
        rec = hits[0] if len(hits) == 1 else None
    if rec is None or not sandboxes.is_sandbox(rec):
        raise NotFound(f"pod sandbox {sandbox_id!r} not found")
    return pod.with_status(rec)


class Runtime:
    """RuntimeService, over one version's messages ``pb``."""

    def __init__(self, pb, api_version: str, streaming):
        self.pb = pb
        self.api_version = api_version
        self.streaming = streaming

    # ------------------------------------------------------------ runtime

    @rpc
    def Version(self, request, context):
        return self.pb.VersionResponse(version="0.1.0", runtime_name="minipod", runtime_version=__version__,
                                       runtime_api_version=self.api_version)

    @rpc
    def Status(self, request, context):
        try:
            if sandboxes.node_network() and network.find(network.default_name()) is None:
                raise MinipodError("waiting for the node's pod range (its Node object's podCIDR)")
            network.load(network.default_name())
            net_ready, reason, message = True, "", ""
        except MinipodError as e:
            net_ready, reason, message = False, "NetworkPluginNotReady", str(e)
        conditions = [self.pb.RuntimeCondition(type="RuntimeReady", status=True),
                      self.pb.RuntimeCondition(type="NetworkReady", status=net_ready, reason=reason,
                                               message=message)]
        return self.pb.StatusResponse(status=self.pb.RuntimeStatus(conditions=conditions))

    @rpc
    def UpdateRuntimeConfig(self, request, context):
        """The pod range the kubelet learned from its Node: on a cluster node
        (sandboxes.node_network), the node's pod network is written on it."""
        cidr = request.runtime_config.network_config.pod_cidr
        bridge = sandboxes.node_network()
        if cidr and bridge:
            network.write_node_network(network.default_name(), bridge, cidr.split(",")[0])
        return self.pb.UpdateRuntimeConfigResponse()

    # ------------------------------------------------------------ sandboxes

    @rpc
    def RunPodSandbox(self, request, context):
        from minipod import cri
        cri.note_log_directory(request.config.log_directory)  # the kubelet made it; gone with `cluster down`
        rec = pod.create(**sandboxes.create_args(request.config))
        if rec.get("ip"):  # no container starts before the node's policy rules know the pod
            from minipod.roles.policy import link
            link.wait_for_rules()
        return self.pb.RunPodSandboxResponse(pod_sandbox_id=rec["id"])

    @rpc
    def StopPodSandbox(self, request, context):
        """Its containers killed, pause stopped, its network released; a
        sandbox already stopped or gone is no error (the call is idempotent)."""
        try:
            rec = _sandbox_record(request.pod_sandbox_id)
        except NotFound:
            return self.pb.StopPodSandboxResponse()
        pod.stop(rec["id"], timeout=0)
        return self.pb.StopPodSandboxResponse()

    @rpc
    def RemovePodSandbox(self, request, context):
        try:
            rec = _sandbox_record(request.pod_sandbox_id)
        except NotFound:
            return self.pb.RemovePodSandboxResponse()
        removal.remove_pod(rec["id"], force=True, timeout=0)
        return self.pb.RemovePodSandboxResponse()

    def _metadata(self, rec):
        m = rec["cri"]["metadata"]
        return self.pb.PodSandboxMetadata(name=m["name"], uid=m["uid"], namespace=m["namespace"],
                                          attempt=m["attempt"])

    def _state(self, rec):
        return self.pb.SANDBOX_READY if sandboxes.ready(rec) else self.pb.SANDBOX_NOTREADY

    @rpc
    def PodSandboxStatus(self, request, context):
        rec = _sandbox_record(request.pod_sandbox_id)
        node = self.pb.NamespaceMode.Value("NODE")
        shared = rec.get("host_namespaces", [])
        options = self.pb.NamespaceOption(network=node if rec["cri"].get("host_network") else 0,
                                          ipc=node if "ipc" in shared else 0, pid=node if "pid" in shared else 0)
        ip = (rec.get("ip") or "").split("/")[0]
        return self.pb.PodSandboxStatusResponse(status=self.pb.PodSandboxStatus(
            id=rec["id"], metadata=self._metadata(rec), state=self._state(rec), created_at=ns(rec.get("created")),
            network=self.pb.PodSandboxNetworkStatus(ip=ip),
            linux=self.pb.LinuxPodSandboxStatus(namespaces=self.pb.Namespace(options=options)),
            labels=rec["cri"].get("labels") or {}, annotations=rec["cri"].get("annotations") or {}))

    @rpc
    def ListPodSandbox(self, request, context):
        flt = request.filter if request.HasField("filter") else None
        items = [self.pb.PodSandbox(id=r["id"], metadata=self._metadata(r), state=self._state(r),
                                    created_at=ns(r.get("created")), labels=r["cri"].get("labels") or {},
                                    annotations=r["cri"].get("annotations") or {})
                 for r in (pod.with_status(x) for x in pod.store().all() if sandboxes.is_sandbox(x))
                 if sandboxes.matches(r, flt)]
        return self.pb.ListPodSandboxResponse(items=items)


    # ------------------------------------------------------------ containers

    @rpc
    def CreateContainer(self, request, context):
        sandbox = _sandbox_record(request.pod_sandbox_id)
        if not sandboxes.ready(sandbox):
            raise InvalidState(f"pod sandbox {sandbox['id'][:12]} is not ready: no container is created in it")
        opts = containers.run_options(request.config, sandbox, images.find(request.config.image.image))
        rec = container.run(opts, start=False)
        return self.pb.CreateContainerResponse(container_id=rec["id"])

    @rpc
    def StartContainer(self, request, context):
        rec = _container_record(request.container_id)
        if rec["status"] != "created":
            raise InvalidState(f"container {rec['id'][:12]} is {rec['status']}, not created: it starts once")
        if not sandboxes.ready(_sandbox_record(rec["cri"]["sandbox"])):
            raise InvalidState(f"the pod sandbox of container {rec['id'][:12]} is not ready")
        container.start(rec["id"])
        return self.pb.StartContainerResponse()

    @rpc
    def StopContainer(self, request, context):
        try:
            rec = _container_record(request.container_id)
        except NotFound:  # idempotent: one already gone is no error
            return self.pb.StopContainerResponse()
        if rec["status"] == "running":  # a stopped (or never started) one: nothing to do, no error
            container.stop(rec["id"], timeout=float(request.timeout))
        return self.pb.StopContainerResponse()

    @rpc
    def RemoveContainer(self, request, context):
        try:
            rec = _container_record(request.container_id)
        except NotFound:  # idempotent: one already gone is no error
            return self.pb.RemoveContainerResponse()
        container.remove(rec["id"], force=True, timeout=0, remove_pod=False)
        return self.pb.RemoveContainerResponse()

    def _container_metadata(self, rec):
        m = rec["cri"]["metadata"]
        return self.pb.ContainerMetadata(name=m["name"], attempt=m["attempt"])

    def _container_state(self, rec):
        return {"created": self.pb.CONTAINER_CREATED, "running": self.pb.CONTAINER_RUNNING,
                "exited": self.pb.CONTAINER_EXITED}.get(containers.settled_status(rec), self.pb.CONTAINER_UNKNOWN)

    @rpc
    def ContainerStatus(self, request, context):
        rec = _container_record(request.container_id)
        img = images.find(rec["image"])
        exited = containers.settled_status(rec) == "exited"
        reason, message = containers.reason(rec) if exited else ("", "")
        return self.pb.ContainerStatusResponse(status=self.pb.ContainerStatus(
            id=rec["id"], metadata=self._container_metadata(rec), state=self._container_state(rec),
            created_at=ns(rec.get("created")), started_at=ns(rec.get("started") if rec.get("pid") else 0),
            finished_at=ns((rec.get("finished") or time.time()) if exited else 0),
            # no exit logged and pause gone: it died with its pid namespace, killed (SIGKILL)
            exit_code=(137 if rec.get("exit_code") is None else rec["exit_code"]) if exited else 0,
            image=self.pb.ImageSpec(image=rec["cri"].get("image") or rec["image"]),
            image_ref=img["digest"] if img else rec["image"], reason=reason, message=message,
            labels=rec["cri"].get("labels") or {}, annotations=rec["cri"].get("annotations") or {},
            mounts=[self.pb.Mount(container_path=m["target"], host_path=m["source"], readonly=m.get("readonly", False))
                    for m in rec.get("mounts", [])],
            log_path=rec["log_path"]))

    @rpc
    def ListContainers(self, request, context):
        flt = request.filter if request.HasField("filter") else None
        items = []
        for rec in (container.with_status(r) for r in container.store().all() if r.get("cri")):
            if not containers.matches(rec, flt, self.pb):
                continue
            img = images.find(rec["image"])
            items.append(self.pb.Container(
                id=rec["id"], pod_sandbox_id=rec["cri"]["sandbox"], metadata=self._container_metadata(rec),
                image=self.pb.ImageSpec(image=rec["cri"].get("image") or rec["image"]),
                image_ref=img["digest"] if img else rec["image"], state=self._container_state(rec),
                created_at=ns(rec.get("created")), labels=rec["cri"].get("labels") or {},
                annotations=rec["cri"].get("annotations") or {}))
        return self.pb.ListContainersResponse(containers=items)

    @rpc
    def UpdateContainerResources(self, request, context):
        """New cgroup limits for a container (the kubelet's CPU manager, in-place resizes)."""
        rec = _container_record(request.container_id)
        new = containers.limits(request.linux)
        if rec["status"] == "running" and rec.get("cgroup"):
            from minipod.runtime import cgroup
            cgroup.update(rec["cgroup"], new)
        container.set_limits(rec["id"], new)
        return self.pb.UpdateContainerResourcesResponse()

    @rpc
    def ExecSync(self, request, context):
        rec = _container_record(request.container_id)
        if not request.cmd:
            raise InvalidArgument("ExecSync needs a command")
        code, out, err = execution.exec_sync(rec["id"], list(request.cmd), request.timeout or None)
        return self.pb.ExecSyncResponse(stdout=out, stderr=err, exit_code=code)

    # ------------------------------------------------------------ streams

    @rpc
    def Exec(self, request, context):
        rec = _container_record(request.container_id)
        if not request.cmd:
            raise InvalidArgument("Exec needs a command")
        _check_streams(request, rec)
        return self.pb.ExecResponse(url=self.streaming.register(
            "exec", container=rec["id"], command=list(request.cmd), stdin=request.stdin, stdout=request.stdout,
            stderr=request.stderr, tty=request.tty))

    @rpc
    def Attach(self, request, context):
        rec = _container_record(request.container_id)
        _check_streams(request, rec)
        return self.pb.AttachResponse(url=self.streaming.register(
            "attach", container=rec["id"], command=[], stdin=request.stdin, stdout=request.stdout,
            stderr=request.stderr, tty=request.tty))

    @rpc
    def PortForward(self, request, context):
        rec = _sandbox_record(request.pod_sandbox_id)
        if not sandboxes.ready(rec):
            raise InvalidState(f"pod sandbox {rec['id'][:12]} is not ready")
        # on the host's network: the host's localhost, as the kubelet's own port-forward does
        netns = None if rec["cri"].get("host_network") else rec["netns"]
        return self.pb.PortForwardResponse(url=self.streaming.register("portforward", netns=netns))

    @rpc
    def ReopenContainerLog(self, request, context):
        rec = _container_record(request.container_id)
        if rec["status"] != "running":
            raise InvalidState(f"container {rec['id'][:12]} is not running: its log has no writer")
        from minipod.conmon import frames
        frames.reopen(rec)
        return self.pb.ReopenContainerLogResponse()


    def _stats(self, rec):
        """A running container's usage from its cgroup (cpu, memory working
        set) and its writable layer's size; zeros once it is not running."""
        now = time.time_ns()
        usage = {}
        if rec["status"] == "running" and rec.get("cgroup"):
            from minipod.runtime import cgroup
            try:
                usage = cgroup.stats(rec["cgroup"])
            except OSError:  # gone meanwhile
                usage = {}
        upper = paths.containers_dir() / rec["id"] / "upper"
        used, inodes = usage_of(upper)
        return self.pb.ContainerStats(
            attributes=self.pb.ContainerAttributes(id=rec["id"], metadata=self._container_metadata(rec),
                                                   labels=rec["cri"].get("labels") or {},
                                                   annotations=rec["cri"].get("annotations") or {}),
            cpu=self.pb.CpuUsage(timestamp=now, usage_core_nano_seconds=self.pb.UInt64Value(
                value=usage.get("cpu_ns", 0))),
            memory=self.pb.MemoryUsage(timestamp=now, working_set_bytes=self.pb.UInt64Value(
                value=usage.get("memory", 0))),
            writable_layer=self.pb.FilesystemUsage(
                timestamp=now, fs_id=self.pb.FilesystemIdentifier(mountpoint=mount_point(paths.lib_root())),
                used_bytes=self.pb.UInt64Value(value=used), inodes_used=self.pb.UInt64Value(value=inodes)))

    @rpc
    def ContainerStats(self, request, context):
        return self.pb.ContainerStatsResponse(stats=self._stats(_container_record(request.container_id)))

    @rpc
    def ListContainerStats(self, request, context):
        flt = request.filter if request.HasField("filter") else None
        out = []
        for rec in (container.with_status(r) for r in container.store().all() if r.get("cri")):
            if flt is not None and (flt.id and not rec["id"].startswith(flt.id) or
                                    flt.pod_sandbox_id and not rec["cri"]["sandbox"].startswith(flt.pod_sandbox_id)
                                    or any((rec["cri"].get("labels") or {}).get(k) != v
                                           for k, v in flt.label_selector.items())):
                continue
            out.append(self._stats(rec))
        return self.pb.ListContainerStatsResponse(stats=out)


def _check_streams(request, rec: dict) -> None:
    """What the kubelet's streaming library refuses of an Exec or Attach:
    no stream at all, a terminal with a separate stderr, a container not running."""
    if not (request.stdin or request.stdout or request.stderr):
        raise InvalidArgument("one of stdin, stdout and stderr must be asked for")
    if request.tty and request.stderr:
        raise InvalidArgument("a terminal has no separate stderr: tty and stderr cannot both be true")
    if containers.settled_status(rec) != "running":
        raise InvalidState(f"container {rec['id'][:12]} is not running")


def _container_record(container_id: str) -> dict:
    """A container this server made, with its status (NotFound otherwise)."""
    rec = None
    if container_id and len(container_id) == 64:
        rec = container.store().load(container_id)
    elif container_id and len(container_id) >= 3:
        hits = [r for r in container.store().all() if r.get("cri") and r["id"].startswith(container_id)]
        rec = hits[0] if len(hits) == 1 else None
    if rec is None or not rec.get("cri"):
        raise NotFound(f"container {container_id!r} not found")
    return container.with_status(rec)
