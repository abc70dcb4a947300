"""Containers: lifecycle of one app process tree inside a pod.

``run`` (the constructor) fails if the name exists and ``load`` if it does
not (runc's factory). A container joins its pod's net/IPC/UTS/PID namespaces and gets
its own mount namespace over an overlay of its image. Its exit code comes
from the pod's pause, which adopts and reaps it (see runtime/pause.c).
"""

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field, replace

from minipod import fsutil, image, mounts, names, paths, pod, procfs, spec, state
from minipod.errors import AlreadyExists, InUse, InvalidArgument, InvalidState, NotFound, TimedOut
from minipod.faults import fault_point
from minipod.runtime import caps, cgroup, seccomp, spawn
from minipod.spec import Limits

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class RunOptions:
    """Everything `minipod run` can say about a new container."""

    image: str
    command: list = field(default_factory=list)
    name: str = None
    pod: str = None
    env: dict = field(default_factory=dict)
    workdir: str = None
    hostname: str = None
    user: tuple = None  # (uid, gid); None: the image's User, else root
    entrypoint: str = None  # --entrypoint: replaces the image's, "" clears it
    labels: dict = field(default_factory=dict)
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    auto_remove: bool = False
    ports: list = field(default_factory=list)
    network: str = None
    cap_add: tuple = ()
    cap_drop: tuple = ()
    privileged: bool = False
    limits: Limits = field(default_factory=Limits)
    seccomp: str = None  # None: the default profile; "unconfined"; or a profile's path
    mounts: list = field(default_factory=list)  # parsed by mounts.parse_all
    restart: dict = None  # {"name": no|on-failure|always|unless-stopped, "max": N}: the agent's job
    cri: dict = None  # a CRI container's metadata and log path (minipod.cri): kept in its record
    # What the CRI's security context adds (kept in the record as "security"): groups (supplemental
    # gids), no_new_privs (default True), pid_mode ("pod", the default: pause is PID 1 of the pod;
    # "container": a PID namespace of its own in the pod's; "host"), readonly_rootfs, masked_paths
    # and readonly_paths (lists replacing the OCI defaults).
    security: dict = None
    # Host devices given to the container (docker's --device, the CRI's devices):
    # [{"host_path", "container_path", "permissions": subset of "rwm"}]
    devices: list = field(default_factory=list)
    # The OOM killer's adjustment of the container's processes: docker's 0 whatever the
    # caller had, 1000 for a BestEffort Pod object's containers (the kubelet's QoS), the
    # kubelet's own value through the CRI.
    oom_score_adj: int = 0


def store() -> state.Store:
    return state.Store(paths.containers_dir(), "container")


def _exit_from_log(rec: dict):
    """(exit code, finish time) pause logged for this container, or (None, None)."""
    try:
        with open(paths.pod_run_dir(rec["pod"]) / "exits", "rb") as f:
            f.seek(rec.get("exits_offset", 0))
            data = f.read().decode(errors="replace")
    except OSError:
        return None, None
    found = (None, None)
    for line in data.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == str(rec.get("nspid")):
            found = (int(parts[1]), float(parts[2]))
    return found


def status(rec: dict) -> str:
    """created | running | exited, from the kernel's view of the process."""
    if not rec.get("pid"):
        return "created"
    return "running" if procfs.alive(rec) else "exited"


def with_status(rec: dict) -> dict:
    rec = dict(rec)
    rec["status"] = status(rec)
    if rec["status"] == "exited" and rec.get("exit_code") is None:
        rec["exit_code"], rec["finished"] = _exit_from_log(rec)
    if rec["status"] == "exited" and rec.get("oom_killed") is None:
        rec["oom_killed"] = _oom_killed(rec)
    return rec


def _oom_killed(rec: dict) -> bool:
    """docker's OOMKilled: killed by SIGKILL (137) while the kernel counted
    an OOM kill in the container's cgroup."""
    return rec.get("exit_code") == 137 and bool(rec.get("cgroup")) and cgroup.oom_kills(rec["cgroup"]) > 0


def load(ref: str) -> dict:
    return with_status(store().get(ref))


def describe(ref: str):
    """(record with status, namespaces and layer paths, its pod) for inspect."""
    rec = load(ref)
    if rec["status"] == "running":
        rec["namespaces"] = procfs.namespaces(rec["pid"])
    rec.update(_layer_dirs(rec))
    p = pod.store().load(rec["pod"]) if rec.get("pod") else None
    return rec, pod.with_status(p) if p else {}


def list_containers() -> list:
    return [with_status(r) for r in store().all()]


def _layer_dirs(rec: dict) -> dict:
    """The overlay's upper, work and merged directories of a container."""
    d = store().dir(rec["id"])
    return {sub: str(d / sub) for sub in ("upper", "work", "merged")}


def _seccomp_file(rec: dict):
    return store().dir(rec["id"]) / "seccomp.bpf"


def _prepare_dirs(rec: dict) -> dict:
    dirs = _layer_dirs(rec)
    for path in dirs.values():
        os.makedirs(path, exist_ok=True)
    return dirs


def _stdio_fds(rec: dict, opts: RunOptions):
    """(stdin, stdout, stderr) for the container, and fds to close after."""
    if opts.detach and rec.get("cri"):
        # the kubelet reads the CRI's log format: a writer process makes it, or with a
        # terminal the console (its stdio is the pty's, made by spawn)
        from minipod.conmon import pipes
        return pipes.container_stdio(rec, stdin=opts.interactive, terminal=opts.tty)
    if opts.detach:
        log = os.open(rec["log_path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        if opts.interactive:
            # A fifo the container holds open for writing itself: stdin
            # never reaches EOF, so `run -di sh` keeps running.
            fifo = store().dir(rec["id"]) / "stdin"
            if not fifo.exists():  # a restart reuses it
                os.mkfifo(fifo, 0o600)
            stdin = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
        else:
            stdin = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        return (stdin, log, log), [stdin, log]
    return _foreground_stdio(opts.interactive)


def _foreground_stdio(interactive: bool):
    """The caller's own stdio, passed straight through (binary-safe), with
    stdin from /dev/null unless -i; and the fds to close afterwards."""
    if interactive:
        return (0, 1, 2), []
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    return (null, 1, 2), [null]


def _environment(hostname: str, uid: int, tty: bool, *layers) -> dict:
    """PATH, HOSTNAME, HOME (and TERM with a tty), then the user's layers."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root" if uid == 0 else "/"}
    if tty:
        env["TERM"] = os.environ.get("TERM", "xterm")
    for layer in layers:
        env.update(layer)
    return env


def run(opts: RunOptions, start: bool = True) -> dict:
    """Create and start a container (and its own pod unless ``opts.pod``).

    Returns the record plus "master" (pty fd) when ``opts.tty`` and not
    detached. On failure nothing of it (nor of its own pod) remains.
    ``start=False``: create it only (status "created"), in ``opts.pod``; start()
    starts it (the CRI's CreateContainer, then StartContainer).
    """
    if not start and not opts.pod:
        raise InvalidArgument("a container created without starting it must be in a pod")
    img = image_or_pull(opts.image)
    name = names.validate_name(opts.name, "container name") if opts.name else names.generate_name()
    if opts.workdir is not None and not opts.workdir.startswith("/"):
        raise InvalidArgument(f"working directory {opts.workdir!r} must be absolute")
    keep = caps.effective_set(opts.cap_add, opts.cap_drop, opts.privileged)
    opts = _with_image_config(opts, img)
    if opts.pod and (opts.ports or opts.network or opts.hostname):
        raise InvalidArgument("-p, --network and --hostname belong to the pod; set them on `pod create`")
    program = _seccomp_program(opts, keep)  # a bad profile fails before anything exists
    opts = replace(opts, mounts=mounts.resolve(opts.mounts))  # a missing source fails here too
    for d in opts.devices:
        _device_node(d)  # a device that is not one fails here too
    with contextlib.ExitStack() as hold:
        return _run_locked(hold, opts, img, name, keep, program, start)


def image_or_pull(ref: str) -> dict:
    """The image, pulled first when it is absent and ``ref`` names its
    registry (docker's `run` pulls too; minipod never guesses a registry)."""
    from minipod.image import pull
    if pull.names_registry(ref):
        try:
            return image.load(pull.local_name(ref))
        except NotFound:
            return pull.pull(ref)
    return image.load(ref)


def _with_image_config(opts: RunOptions, img: dict) -> RunOptions:
    """docker's merge of `run`'s arguments with the image config: command
    from Entrypoint/Cmd, Env under -e, WorkingDir unless -w, User unless -u."""
    from minipod.image import config as imgconfig
    cfg = img.get("config", {})
    user = opts.user if opts.user is not None else image_user(img, cfg.get("User"))
    workdir = opts.workdir or cfg.get("WorkingDir") or "/"
    if not workdir.startswith("/"):
        raise InvalidArgument(f"image {img['name']}: WorkingDir {workdir!r} is not absolute")
    return replace(opts, command=imgconfig.command(cfg, opts.entrypoint, opts.command),
                   env={**imgconfig.env(cfg), **opts.env}, workdir=workdir, user=user)


def image_user(img: dict, spec_text, with_groups: bool = False):
    """A User as the image's own /etc/passwd and /etc/group resolve it
    ("uid", "uid:gid", "name", "name:group"; root when it names none), as
    (uid, gid); ``with_groups``: (uid, gid, the groups that list it as a member)."""
    from minipod.image import config as imgconfig

    def text(rel):
        return (image.find_in_rootfs(img, rel) or b"").decode(errors="replace")
    uid, gid, passwd, group = 0, 0, None, None
    if spec_text:
        passwd, group = text("/etc/passwd"), text("/etc/group")
        try:
            uid, gid = imgconfig.resolve_user(spec_text, passwd, group)
        except InvalidArgument as e:
            raise InvalidArgument(f"image {img['name']}: {e}") from None
        uid, gid = spec.parse_user(f"{uid}:{gid}")
    if not with_groups:
        return uid, gid
    if passwd is None:
        passwd, group = text("/etc/passwd"), text("/etc/group")
    return uid, gid, imgconfig.member_groups(uid, passwd, group)


def _seccomp_program(opts: RunOptions, keep: set):
    """The compiled filter for the container, or None when unconfined
    (asked for, or --privileged as in docker)."""
    if opts.privileged or opts.seccomp == seccomp.UNCONFINED:
        return None
    return seccomp.compiled(opts.seccomp, caps.names(keep), paths.lib_root() / "seccomp")


def _run_locked(hold, opts, img, name, keep, program, start=True):
    with state.global_lock():
        if any(r["name"] == name for r in store().all()):
            raise AlreadyExists(f"container name {name!r} is already in use")
        rec = {"id": names.new_id(), "name": name, "image": img["name"],
               "command": list(opts.command), "env": dict(opts.env),
               "workdir": opts.workdir or "/", "user": list(opts.user), "tty": opts.tty,
               "interactive": opts.interactive, "detach": opts.detach,
               "auto_remove": opts.auto_remove, "created": time.time(), "pod": None,
               "own_pod": not opts.pod, "pid": None, "caps": sorted(keep),
               "privileged": opts.privileged, "limits": opts.limits.as_dict(),
               "oom_score_adj": opts.oom_score_adj,
               "seccomp": seccomp.UNCONFINED if program is None else (opts.seccomp or "default"),
               "stop_signal": _stop_signal(img), "mounts": opts.mounts,
               "restart_policy": opts.restart or {"name": "no"}, "restart_count": 0,
               "labels": {**img.get("config", {}).get("Labels", {}), **opts.labels}}
        if opts.security:
            rec["security"] = dict(opts.security)
        if opts.devices:
            rec["devices"] = [dict(d) for d in opts.devices]
        rec["log_path"] = str(store().dir(rec["id"]) / "ctr.log")
        if opts.cri is not None:  # the kubelet's log path, in the CRI's log format (conmon/crilog.py)
            rec["cri"] = opts.cri
            rec["log_path"] = opts.cri["log_path"] or rec["log_path"]
        # Held until started: gc leaves a container being created alone.
        hold.enter_context(state.object_lock("container", rec["id"]))
        store().save(rec)
    fault_point("container-recorded")
    own_pod = None
    try:
        if opts.pod:
            p = pod.load(opts.pod)
            if p["status"] != "running":
                raise InvalidState(f"pod {p['name']!r} is not running (start it with `minipod pod start {p['name']}`)")
        else:
            p = own_pod = pod.create(name=name, hostname=opts.hostname, ports=opts.ports,
                                     network_name=opts.network, infra_for=rec["id"], labels=opts.labels)
        rec["pod"] = p["id"]
        rec["hostname"] = p["hostname"]
        rec["cgroup"] = cgroup.container_path(p["id"], rec["id"])
        store().save(rec)  # the cgroup is named before it exists: cleanup finds it
        if program:  # exec and later starts get the same filter, whatever happens to the profile file
            _seccomp_file(rec).write_bytes(program)
        if not start:
            return with_status(rec)
        result = _start(rec, opts, p, img, keep, program)
    except BaseException:
        with contextlib.suppress(Exception):
            discard(rec)
        if own_pod is not None:
            with contextlib.suppress(Exception):
                pod.remove(own_pod["id"])
        raise
    return result


def _start(rec, opts, p, img, keep, program):
    env = _environment(p["hostname"], opts.user[0], opts.tty, opts.env)
    stdio, to_close = _stdio_fds(rec, opts)
    exits = paths.pod_run_dir(p["id"]) / "exits"
    rec["exits_offset"] = exits.stat().st_size if exits.exists() else 0
    security = rec.get("security") or {}
    proc = {"argv": rec["command"], "env": env, "cwd": rec["workdir"], "uid": opts.user[0],
            "gid": opts.user[1], "caps": sorted(keep), "tty": opts.tty,
            "stdio": stdio, "cgroup": rec["cgroup"], "seccomp": program, "groups": security.get("groups", []),
            "no_new_privs": security.get("no_new_privs", True), "pid_mode": _pid_mode(security, p),
            "exits_log": str(exits), "oom_score_adj": rec.get("oom_score_adj", 0)}
    lower = ":".join(image.lowerdirs(img))
    if len(lower) > 3500:  # the whole option string must fit in a page
        raise InvalidArgument(f"image {img['name']} has too many layers for one overlay mount")
    rootfs_spec = {"lower": lower, **_prepare_dirs(rec),
                   "etc_files": p.get("etc_files", {}), "mounts": mounts.for_runtime(rec.get("mounts", [])),
                   "readonly": bool(security.get("readonly_rootfs"))}
    for key, given in (("masked", "masked_paths"), ("readonly_paths", "readonly_paths")):
        if security.get(given) is not None:
            rootfs_spec[key] = list(security[given])

    def on_pid(pid, nspid, start):
        rec.update(pid=pid, start=start, boot=procfs.boot_id(), nspid=nspid, started=time.time())
        store().save(rec)

    nodes = [_device_node(d) for d in rec.get("devices", [])]
    rootfs_spec["devices"] = [n for n, _ in nodes]
    try:
        # runc's default device list and the container's own devices, unless --privileged (docker's rule).
        cgroup.create(rec["cgroup"], opts.limits, devices=not opts.privileged, extra_devices=[r for _, r in nodes])
        info = spawn.start_container(p["pause"]["pid"], proc, rootfs_spec, on_pid=on_pid)
    finally:
        for fd in to_close:
            os.close(fd)
    fault_point("container-started")
    if opts.detach and "master" in info:  # a detached terminal: held by its console (attach, logs)
        _start_console(rec, info.pop("master"))
    out = with_status(rec)
    if "master" in info:
        out["master"] = info["master"]
    return out


def _device_node(device: dict):
    """(the node to make in the container: path, kind, major, minor, mode;
    the cgroup rule that allows it) for a host device given to a container."""
    import stat as st
    from minipod.runtime.cgroup.devices import Rule
    host, target = device["host_path"], os.path.normpath(device.get("container_path") or device["host_path"])
    access = device.get("permissions") or "rwm"
    if not target.startswith("/dev/") or set(access) - set("rwm"):
        raise InvalidArgument(f"device {host}:{target}:{access}: the container path must be below /dev and the "
                              "permissions a subset of rwm")
    try:
        info = os.stat(host)
    except OSError as e:
        raise InvalidArgument(f"device {host}: {e.strerror}") from None
    if not (st.S_ISCHR(info.st_mode) or st.S_ISBLK(info.st_mode)):
        raise InvalidArgument(f"device {host} is not a character or block device")
    kind = "c" if st.S_ISCHR(info.st_mode) else "b"
    major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
    return (target, kind, major, minor, st.S_IMODE(info.st_mode)), Rule(kind, major, minor, access)


def _pid_mode(security: dict, p: dict) -> str:
    """Where the container's processes live: the pod's PID namespace (pause
    is PID 1), one of its own inside it, or the host's when the pod is there."""
    if "pid" in p.get("host_namespaces", []):
        return "host"
    return security.get("pid_mode", "pod")


def _start_console(rec: dict, master: int) -> None:
    """Hand the pty master of a detached container to its console process
    (minipod/conmon/tty.py), which outlives us and the container's starter."""
    import subprocess
    import sys
    from minipod.conmon.frames import socket_path
    sock = socket_path(rec)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with open(os.devnull, "r+b") as null:
            log_format = ["cri"] if rec.get("cri") else []  # the kubelet's log format (conmon/crilog.py)
            proc = subprocess.Popen([sys.executable, "-m", "minipod.conmon.tty", str(master), rec["log_path"], str(sock),
                                     *log_format], pass_fds=[master], stdin=null, stdout=null, stderr=null,
                                    start_new_session=True, cwd="/")
    finally:
        os.close(master)
    rec["console"] = {"socket": str(sock), "pid": proc.pid, "start": procfs.start_time(proc.pid)}
    store().save(rec)


def read_logs(ref: str, follow: bool):
    """Yield the chunks of a detached container's log; with ``follow``,
    keep yielding until the container has exited and the log is drained."""
    rec = load(ref)
    try:
        f = open(rec["log_path"], "rb")
    except FileNotFoundError:
        return
    with f:
        while True:
            data = f.read(65536)
            if data:
                yield data
            elif follow and status(rec) == "running":
                time.sleep(0.1)
            else:
                # after the exit, whatever was written meanwhile
                rest = f.read() if follow else b""
                if rest:
                    yield rest
                return


def wait(rec: dict, timeout=None):
    """Block until the container exits; return its exit code (None if the
    pause that would have logged it is gone)."""
    if not procfs.wait_exit(rec["pid"], rec.get("start"), timeout if timeout is not None else 1e9):
        return None
    # pause writes the code right after reaping; give it a moment.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        code, _ = _exit_from_log(rec)
        if code is not None:
            return code
        time.sleep(0.002)
    return None


def record_exit(rec: dict, code) -> None:
    """Persist the exit code and finish time once they are known (they
    then survive a reboot, which empties pause's exit log in /run)."""
    with contextlib.suppress(FileNotFoundError):
        saved = store().load(rec["id"])
        if saved is not None:
            saved.update(exit_code=code, finished=_exit_from_log(rec)[1] or time.time())
            saved["oom_killed"] = _oom_killed(saved)
            store().save(saved)


def _kill(rec: dict, timeout: float = 0.0) -> None:
    if rec.get("pid"):
        procfs.stop_process(rec["pid"], rec.get("start"), timeout, sig=15 if timeout else 9)


def _delete_files(rec: dict) -> None:
    console = rec.get("console")
    if console:  # it ends with the container's terminal; one that did not is stopped here
        procfs.send_signal(console["pid"], console.get("start"), 9)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(console["socket"])
    if rec.get("cgroup"):
        with contextlib.suppress(OSError):  # a leftover is reported by gc --dry-run
            cgroup.remove(rec["cgroup"])
    fsutil.rmtree(store().dir(rec["id"]), ignore_errors=True)
    state.drop_object_lock("container", rec["id"])


def discard(rec: dict) -> None:
    """Kill and delete a container whatever its state (creation failed, or
    gc found it orphaned); its pod is left alone."""
    _kill(rec)
    _delete_files(rec)


def _stop_signal(img: dict) -> int:
    text = img.get("config", {}).get("StopSignal")
    try:
        return spec.parse_signal(text) if text else 15
    except InvalidArgument:
        return 15  # docker too falls back to SIGTERM on a signal it cannot parse


def stop(ref: str, timeout: float = 10.0) -> dict:
    """The image's StopSignal (SIGTERM by default), then SIGKILL after
    ``timeout`` seconds."""
    rec = load(ref)
    # Marked first: a restart policy (the agent's) must not undo a stop.
    _set_fields(rec["id"], stopped_by_user=True)
    if rec["status"] == "running":
        procfs.stop_process(rec["pid"], rec.get("start"), timeout, sig=rec.get("stop_signal", 15))
    return load(rec["id"])


def kill(ref: str, sig: int) -> dict:
    rec = load(ref)
    if rec["status"] != "running" or not procfs.send_signal(rec["pid"], rec.get("start"), sig):
        raise InvalidState(f"container {rec['name']} is not running")
    return rec


def remove(ref: str, force: bool = False, timeout: float = 0.0, remove_pod: bool = True) -> list:
    """Remove a container (its own pod too). A running one needs ``force``."""
    rec = load(ref)
    if rec["status"] == "running" and not force:
        raise InUse(f"container {rec['name']} is running: stop it first or use -f")
    with state.object_lock("container", rec["id"]):
        _kill(rec, timeout)
        fault_point("container-rm-killed")
        _delete_files(rec)
    warnings = []
    if remove_pod and rec.get("own_pod") and rec.get("pod"):
        try:
            warnings += pod.remove(rec["pod"])
        except NotFound:
            pass
        except InUse:  # someone ran more containers in it with --pod
            warnings.append(f"pod {rec['name']} kept: other containers still use it")
    return warnings


def exec_start(ref: str, command: list, env: dict, workdir, tty: bool, interactive: bool, user=None) -> dict:
    """Start ``command`` in the container's namespaces with its capability
    limits, on the caller's stdio (stdin only with ``interactive``).
    Returns {"waiter": the pid to wait for, "pid", "start": the process's
    identity, "master": the pty's fd with ``tty``}: the CLI's foreground
    session (cli/foreground.py) relays the terminal and signals."""
    rec = load(ref)
    if rec["status"] != "running":
        raise InvalidState(f"container {rec['name']} is not running")
    stdio, to_close = _foreground_stdio(interactive)
    proc = _exec_process(rec, command, env, workdir, tty, stdio, user)
    try:
        waiter, info = spawn.exec_in(rec["pid"], proc)
    finally:
        for fd in to_close:
            os.close(fd)
    pid = info.get("pid")
    return {"waiter": waiter, "pid": pid, "start": procfs.start_time(pid) if pid else None,
            "master": info.get("master")}


def _exec_process(rec: dict, command: list, env: dict, workdir, tty: bool, stdio, user=None) -> dict:
    """What spawn.exec_in runs for an exec in ``rec``: its user, environment,
    capabilities, cgroup and seccomp filter, with ``stdio``."""
    uid, gid = user if user else tuple(rec.get("user", (0, 0)))
    security = rec.get("security") or {}
    return {"argv": command, "env": _environment(rec.get("hostname", ""), uid, tty, rec.get("env", {}), env),
            "cwd": workdir or rec.get("workdir", "/"), "uid": uid, "gid": gid, "caps": rec["caps"],
            "groups": security.get("groups", []) if not user else [],
            "no_new_privs": security.get("no_new_privs", True), "oom_score_adj": rec.get("oom_score_adj", 0),
            "tty": tty, "stdio": stdio, "cgroup": rec.get("cgroup"),
            "seccomp": _seccomp_file(rec).read_bytes() if rec.get("seccomp", "unconfined") != "unconfined" else None}


def exec_sync(ref: str, command: list, timeout: float = None) -> tuple:
    """Run ``command`` in the container as exec_in does, its output
    captured: (exit code, stdout, stderr). ``timeout`` seconds (None: no
    limit): then the command is killed and TimedOut raised (the CRI's ExecSync)."""
    import selectors
    rec = load(ref)
    if rec["status"] != "running":
        raise InvalidState(f"container {rec['name']} is not running")
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    proc = _exec_process(rec, command, {}, None, False, (null, out_w, err_w))
    try:
        waiter, info = spawn.exec_in(rec["pid"], proc)
    except BaseException:
        for fd in (out_r, err_r):  # a command that cannot run: the server that asked goes on without them
            os.close(fd)
        raise
    finally:
        for fd in (null, out_w, err_w):
            os.close(fd)
    pid = info.get("pid")
    started = procfs.start_time(pid) if pid else None
    chunks = {out_r: [], err_r: []}
    deadline = None if not timeout else time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                procfs.send_signal(pid, started, signal.SIGKILL)
                os.waitpid(waiter, 0)
                for fd in list(sel.get_map()):
                    sel.unregister(fd)
                    os.close(fd)
                raise TimedOut(f"command {command[0]!r} did not finish in {timeout:g}s")
            for key, _ in sel.select(wait):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
                    os.close(key.fd)
    _, wait_status = os.waitpid(waiter, 0)
    return procfs.exit_code(wait_status), b"".join(chunks[out_r]), b"".join(chunks[err_r])


def users_of_image(ref: str) -> list:
    return [c for c in list_containers() if c["image"] == image.normalize(ref)]


def remove_image(ref: str, force: bool) -> None:
    """`image rm`: refused while containers use the image (see image.remove)."""
    image.remove(ref, force, users_of_image(ref))


def _options_from_record(rec: dict) -> RunOptions:
    """The RunOptions a container was started with, as its record keeps
    them (command, env and user already merged with the image's config)."""
    return RunOptions(image=rec["image"], command=rec["command"], env=rec.get("env", {}),
                      workdir=rec.get("workdir"), user=tuple(rec.get("user", (0, 0))),
                      interactive=rec.get("interactive", False), detach=True, tty=rec.get("tty", False),
                      limits=Limits(**rec.get("limits", {})), privileged=rec.get("privileged", False),
                      mounts=rec.get("mounts", []), oom_score_adj=rec.get("oom_score_adj", 0))


def set_limits(ref: str, limits: Limits) -> None:
    """Record new limits (those ``limits`` sets) for the container's next starts."""
    rec = load(ref)
    _set_fields(rec["id"], limits={**rec.get("limits", {}), **limits.as_dict()})


def _set_fields(rec_id: str, **fields) -> None:
    """Update stored fields of a container under its lock."""
    with state.object_lock("container", rec_id):
        saved = store().load(rec_id)
        if saved is not None:
            saved.update(fields)
            store().save(saved)


def start(ref: str, restarted_by_agent: bool = False) -> dict:
    """docker start: run an exited (or created) container's command again
    in its pod, with its filesystem as it left it; the pod is started
    first when it is stopped. A running container is left alone."""
    rec = load(ref)
    if rec["status"] == "running":
        return rec
    with state.object_lock("container", rec["id"]):
        rec = store().get(rec["id"])
        p = pod.load(rec["pod"])
        if p["status"] != "running":
            p = pod.start(p["id"])
        img = image.load(rec["image"])
        if rec.get("cgroup"):
            # Whatever the last run left (its daemons too) goes with the cgroup.
            cgroup.remove(rec["cgroup"])
        program = _seccomp_file(rec).read_bytes() if rec.get("seccomp", seccomp.UNCONFINED) != seccomp.UNCONFINED \
            else None
        rec.update(exit_code=None, finished=None, oom_killed=None, stopped_by_user=False)
        if restarted_by_agent:
            rec["restart_count"] = rec.get("restart_count", 0) + 1
        out = _start(rec, _options_from_record(rec), p, img, set(rec["caps"]), program)
    out.pop("master", None)
    return out


def restart(ref: str, timeout: float = 10.0) -> dict:
    """docker restart: stop (signal, then SIGKILL after ``timeout``), start."""
    stop(ref, timeout)
    return start(ref)
