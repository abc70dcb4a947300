"""Containers: lifecycle of one app process tree inside a pod.

``run`` (the constructor) fails if the name exists and ``load`` if it does
not (runc's factory). A container joins its pod's net/IPC/UTS/PID namespaces and gets
its own mount namespace over an overlay of its image. Its exit code comes
from the pod's pause, which adopts and reaps it (see runtime/pause.c).
"""

import contextlib
import os
import time
from dataclasses import replace

from minipod import fsutil, image, names, paths, procfs, state
from minipod.core import imagerun, images, mounts, pod
from minipod.core import stdio as stdio_for
from minipod.errors import AlreadyExists, InUse, InvalidArgument, InvalidState, NotFound
from minipod.faults import fault_point
from minipod.runtime import caps, cgroup, seccomp, spawn
from minipod.runtime.cgroup import devices
from minipod.spec import Limits, RunOptions

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


def seccomp_file(rec: dict):
    """The container's compiled seccomp filter (every exec and start gets the same)."""
    return store().dir(rec["id"]) / "seccomp.bpf"


def _prepare_dirs(rec: dict) -> dict:
    dirs = _layer_dirs(rec)
    for path in dirs.values():
        os.makedirs(path, exist_ok=True)
    return dirs


def environment(hostname: str, uid: int, tty: bool, *layers) -> dict:
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
    img = imagerun.image_or_pull(opts.image)
    name = names.validate_name(opts.name, "container name") if opts.name else names.generate_name()
    if opts.workdir is not None and not opts.workdir.startswith("/"):
        raise InvalidArgument(f"working directory {opts.workdir!r} must be absolute")
    keep = caps.effective_set(opts.cap_add, opts.cap_drop, opts.privileged)
    opts = imagerun.with_image_config(opts, img)
    if opts.pod and (opts.ports or opts.network or opts.hostname):
        raise InvalidArgument("-p, --network and --hostname belong to the pod; set them on `pod create`")
    # None when unconfined (asked for, or --privileged as in docker); a bad profile fails before anything exists
    program = None if opts.privileged or opts.seccomp == seccomp.UNCONFINED else \
        seccomp.compiled(opts.seccomp, caps.names(keep), paths.lib_root() / "seccomp")
    opts = replace(opts, mounts=mounts.resolve(opts.mounts))  # a missing source fails here too
    for d in opts.devices:
        devices.node_for(d)  # a device that is not one fails here too
    with contextlib.ExitStack() as hold:
        return _run_locked(hold, opts, img, name, keep, program, start)


def _run_locked(hold, opts, img, name, keep, program, start=True):
    with state.global_lock():
        if any(r["name"] == name for r in store().all()):
            raise AlreadyExists(f"container name {name!r} is already in use")
        rec = {"id": names.new_id(), "name": name, "image": opts.image, "image_id": img["digest"],  # as docker
               "command": list(opts.command), "env": dict(opts.env),
               "workdir": opts.workdir or "/", "user": list(opts.user), "tty": opts.tty,
               "interactive": opts.interactive, "detach": opts.detach,
               "auto_remove": opts.auto_remove, "created": time.time(), "pod": None,
               "own_pod": not opts.pod, "pid": None, "caps": sorted(keep),
               "privileged": opts.privileged, "limits": opts.limits.as_dict(),
               "oom_score_adj": opts.oom_score_adj,
               "seccomp": seccomp.UNCONFINED if program is None else (opts.seccomp or "default"),
               "stop_signal": imagerun.stop_signal(img), "mounts": opts.mounts,
               "restart_policy": opts.restart or {"name": "no"}, "restart_count": 0,
               "labels": {**img.get("config", {}).get("Labels", {}), **opts.labels}}
        if opts.security:
            rec["security"] = dict(opts.security)
        if opts.devices:
            rec["devices"] = [dict(d) for d in opts.devices]
        rec["log_path"] = str(store().dir(rec["id"]) / "ctr.log")
        if opts.log_format == "cri":  # timestamped lines (conmon/crilog.py), for `kubectl logs --timestamps`
            rec["log_format"] = "cri"
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
            seccomp_file(rec).write_bytes(program)
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
    env = environment(p["hostname"], opts.user[0], opts.tty, opts.env)
    stdio, to_close = stdio_for.container(rec, opts.detach, opts.interactive, opts.tty)
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
        raise InvalidArgument(f"image {image.display_name(img)} has too many layers for one overlay mount")
    rootfs_spec = {"lower": lower, **_prepare_dirs(rec),
                   "etc_files": p.get("etc_files", {}), "mounts": mounts.for_runtime(rec.get("mounts", [])),
                   "readonly": bool(security.get("readonly_rootfs"))}
    for key, given in (("masked", "masked_paths"), ("readonly_paths", "readonly_paths")):
        if security.get(given) is not None:
            rootfs_spec[key] = list(security[given])

    def on_pid(pid, nspid, start):
        rec.update(pid=pid, start=start, boot=procfs.boot_id(), nspid=nspid, started=time.time())
        store().save(rec)

    nodes = [devices.node_for(d) for d in rec.get("devices", [])]
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
        rec["console"] = stdio_for.start_console(rec, info.pop("master"))
        store().save(rec)
    out = with_status(rec)
    if "master" in info:
        out["master"] = info["master"]
    return out


def _pid_mode(security: dict, p: dict) -> str:
    """Where the container's processes live: the pod's PID namespace (pause
    is PID 1), one of its own inside it (asked for, or the pod shares none),
    or the host's when the pod is there."""
    if "pid" in p.get("host_namespaces", []):
        return "host"
    return security.get("pid_mode", "pod" if p.get("share_pid", True) else "container")


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


def stop(ref: str, timeout: float = 10.0) -> dict:
    """The image's StopSignal (SIGTERM by default), then SIGKILL after
    ``timeout`` seconds."""
    rec = load(ref)
    # Marked first: a restart policy (the agent's) must not undo a stop.
    update_fields(rec["id"], stopped_by_user=True)
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
    update_fields(rec["id"], limits={**rec.get("limits", {}), **limits.as_dict()})


def update_fields(rec_id: str, **fields) -> None:
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
        img = images.image_of(rec) or image.load(rec["image"])
        if rec.get("cgroup"):
            # Whatever the last run left (its daemons too) goes with the cgroup.
            cgroup.remove(rec["cgroup"])
        program = seccomp_file(rec).read_bytes() if rec.get("seccomp", seccomp.UNCONFINED) != seccomp.UNCONFINED \
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
