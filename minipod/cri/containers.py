"""A CRI container is a minipod container in its sandbox's pod: this
module translates the kubelet's ContainerConfig into minipod's RunOptions
and a container record back into the CRI's words (pure)."""

import os

from minipod import spec
from minipod.core import imagerun
from minipod.errors import InvalidArgument, NotFound
from minipod.spec import Limits

MAX_NAME = 63


def local_name(config, sandbox: dict) -> str:
    """<sandbox's local name>_<container>_<attempt>, at most 63 characters."""
    if not config.metadata.name:
        raise InvalidArgument("container metadata needs a name")
    tail = f"_{config.metadata.name}_{config.metadata.attempt}"
    return sandbox["name"][:max(8, MAX_NAME - len(tail))] + tail[:MAX_NAME - 8]


def _user(ctx, img):
    """(uid, gid, supplementary gids): runAsUser or runAsUserName, runAsGroup,
    looked up in the image's own /etc/passwd and /etc/group as containerd
    does (a uid without a group gets its passwd group; the groups that list
    the user as a member are kept), then supplementalGroups; None: the image's User."""
    if ctx.HasField("run_as_user"):
        who = str(ctx.run_as_user.value)
    elif ctx.run_as_username:
        who = ctx.run_as_username
    elif ctx.HasField("run_as_group"):
        raise InvalidArgument("runAsGroup is set without runAsUser or runAsUserName")
    else:
        who = (img.get("config") or {}).get("User") or ""
    if ctx.HasField("run_as_group"):
        who = f"{who or 0}:{ctx.run_as_group.value}"
    uid, gid, groups = imagerun.image_user(img, who, with_groups=True)
    return uid, gid, sorted(set(groups) | set(ctx.supplemental_groups))


PID_MODES = {0: "pod", 1: "container", 2: "host"}  # the CRI's NamespaceMode: POD, CONTAINER, NODE (3: TARGET)


def _security(ctx, sandbox: dict, groups) -> dict:
    """RunOptions.security for the CRI's security context."""
    mode = ctx.namespace_options.pid
    if mode not in PID_MODES:
        raise InvalidArgument("a PID namespace of another container (TARGET) is not supported by minipod")
    host_pid = "pid" in sandbox.get("host_namespaces", [])
    if (PID_MODES[mode] == "host") != host_pid:
        raise InvalidArgument("a container shares the host's PID namespace exactly when its sandbox does")
    out = {"groups": list(groups), "no_new_privs": ctx.no_new_privs, "pid_mode": PID_MODES[mode],
           "readonly_rootfs": ctx.readonly_rootfs}
    if ctx.privileged:  # nothing masked, as runc does for a privileged container
        out["masked_paths"], out["readonly_paths"] = [], []
    else:  # the kubelet sends the lists (its defaults, or an unmasked procMount's empty ones)
        if ctx.masked_paths:
            out["masked_paths"] = list(ctx.masked_paths)
        if ctx.readonly_paths:
            out["readonly_paths"] = list(ctx.readonly_paths)
    return out


def limits(res) -> Limits:
    """The kubelet's resources as minipod's cgroup limits (0: none set)."""
    return Limits(memory=res.memory_limit_in_bytes or None,
                  cpu_quota_us=(res.cpu_quota * 100_000 // res.cpu_period) if res.cpu_quota > 0 and res.cpu_period
                  else None,
                  cpu_shares=res.cpu_shares or None)


def _seccomp(ctx):
    """minipod's seccomp setting for the kubelet's: None (minipod's default
    profile, docker's), "unconfined", or a profile's path. An empty setting
    is unconfined, as the CRI defines it (Kubernetes' default before 1.27)."""
    if ctx.HasField("seccomp"):
        kind = ctx.seccomp.profile_type
        if kind == 2:  # Localhost
            if not os.path.isabs(ctx.seccomp.localhost_ref):
                raise InvalidArgument(f"seccomp profile {ctx.seccomp.localhost_ref!r} is not an absolute path")
            return ctx.seccomp.localhost_ref
        return None if kind == 0 else "unconfined"  # RuntimeDefault, Unconfined
    path = ctx.seccomp_profile_path
    if path in ("runtime/default", "docker/default"):
        return None
    if path in ("", "unconfined"):
        return "unconfined"
    if path.startswith("localhost/") and os.path.isabs(path[len("localhost/"):]):
        return path[len("localhost/"):]
    raise InvalidArgument(f"seccomp profile {path!r}: expected runtime/default, unconfined or localhost/<path>")


def _refuse_unsupported(ctx) -> None:
    """What minipod cannot honour is refused, never silently dropped."""
    if (ctx.HasField("apparmor") and ctx.apparmor.profile_type == 2) or ctx.apparmor_profile.startswith("localhost/"):
        raise InvalidArgument("AppArmor profiles are not supported by minipod (no AppArmor on its nodes)")


def run_options(config, sandbox: dict, img) -> spec.RunOptions:
    """container.run's options for CreateContainer (Kubernetes' command and
    args over the image's Entrypoint and Cmd, as for a Pod object)."""
    if img is None:
        raise NotFound(f"image {config.image.image!r} is not present (pull it first)")
    if config.command:
        entrypoint, cmd = "", list(config.command) + list(config.args)
    else:
        entrypoint, cmd = None, list(config.args)
    ctx = config.linux.security_context
    _refuse_unsupported(ctx)
    uid, gid, groups = _user(ctx, img)
    caps = ctx.capabilities
    log_dir = sandbox["cri"].get("log_directory") or ""
    log_path = os.path.join(log_dir, config.log_path) if config.log_path and log_dir else None
    if log_path and not os.path.isabs(log_path):
        raise InvalidArgument(f"log path {log_path!r} is not absolute")
    mounts = [{"type": "bind", "source": m.host_path, "target": os.path.normpath(m.container_path),
               "readonly": m.readonly, "subpath": None, "options": ""} for m in config.mounts]
    return spec.RunOptions(
        image=img["digest"], command=cmd, entrypoint=entrypoint, name=local_name(config, sandbox), pod=sandbox["id"],
        env={kv.key: kv.value for kv in config.envs}, workdir=config.working_dir or None,
        user=(uid, gid), labels=dict(config.labels), detach=True, tty=config.tty, interactive=config.stdin,
        privileged=ctx.privileged, cap_add=tuple(caps.add_capabilities),  # caps.resolve takes CAP_X and X
        cap_drop=tuple(caps.drop_capabilities), limits=limits(config.linux.resources),
        oom_score_adj=config.linux.resources.oom_score_adj,  # the kubelet's, by the pod's QoS class
        mounts=mounts, seccomp=_seccomp(ctx), security=_security(ctx, sandbox, groups),
        devices=[{"host_path": d.host_path, "container_path": d.container_path, "permissions": d.permissions}
                 for d in config.devices],
        cri={"metadata": {"name": config.metadata.name, "attempt": config.metadata.attempt},
             "sandbox": sandbox["id"], "image": config.image.image, "labels": dict(config.labels),
             "annotations": dict(config.annotations), "log_path": log_path, "stdin_once": config.stdin_once})


def settled_status(rec: dict) -> str:
    """created | running | exited as the kubelet must see it: a container
    whose process is gone but whose exit code pause has not logged yet is
    still running for a moment (the kubelet keeps the first exit code it
    sees), unless pause itself is gone and never will."""
    if rec["status"] == "exited" and rec.get("exit_code") is None:
        from minipod.core import pod
        sandbox = pod.store().load(rec["pod"]) if rec.get("pod") else None
        if sandbox is not None and pod.status(sandbox) == "running":
            return "running"
    return rec["status"]


def reason(rec: dict) -> tuple:
    """(reason, message) of an exited container, as the kubelet shows them."""
    if rec["status"] != "exited":
        return "", ""
    if rec.get("oom_killed"):
        return "OOMKilled", ""
    return ("Completed", "") if rec.get("exit_code") == 0 else ("Error", "")


def matches(rec: dict, flt, pb) -> bool:
    """A ListContainers filter (id prefix, state, sandbox, labels: all ANDed)."""
    if flt is None:
        return True
    if flt.id and not rec["id"].startswith(flt.id):
        return False
    if flt.pod_sandbox_id and not rec["cri"]["sandbox"].startswith(flt.pod_sandbox_id):
        return False
    if flt.HasField("state"):
        states = {"created": pb.CONTAINER_CREATED, "running": pb.CONTAINER_RUNNING, "exited": pb.CONTAINER_EXITED}
        if states.get(settled_status(rec), pb.CONTAINER_UNKNOWN) != flt.state.state:
            return False
    labels = rec["cri"].get("labels") or {}
    return all(labels.get(k) == v for k, v in flt.label_selector.items())
