"""What an image gives a container at `run`, as docker merges it: the image
(pulled first when its reference names a registry), command from
Entrypoint/Cmd, Env under -e, WorkingDir unless -w, User unless -u (resolved
by the image's own /etc/passwd and /etc/group), and its StopSignal."""

from dataclasses import replace

from minipod import image, spec
from minipod.errors import InvalidArgument
from minipod.image import config as imgconfig


def image_or_pull(ref: str) -> dict:
    """The image, pulled first when it is absent and ``ref`` names its
    registry (docker's `run` pulls too; minipod never guesses a registry)."""
    found = image.find(ref)
    if found is not None:
        return found
    from minipod.image import pull  # skopeo's caller: not on the CLI's hot path
    if pull.names_registry(ref):
        return pull.pull(ref)
    return image.load(ref)  # its NotFound


def with_image_config(opts, img: dict):
    """docker's merge of `run`'s arguments with the image config: command
    from Entrypoint/Cmd, Env under -e, WorkingDir unless -w, User unless -u."""
    cfg = img.get("config", {})
    user = opts.user if opts.user is not None else image_user(img, cfg.get("User"))
    workdir = opts.workdir or cfg.get("WorkingDir") or "/"
    if not workdir.startswith("/"):
        raise InvalidArgument(f"image {image.display_name(img)}: WorkingDir {workdir!r} is not absolute")
    return replace(opts, command=imgconfig.command(cfg, opts.entrypoint, opts.command),
                   env={**imgconfig.env(cfg), **opts.env}, workdir=workdir, user=user)


def image_user(img: dict, spec_text, with_groups: bool = False):
    """A User as the image's own /etc/passwd and /etc/group resolve it
    ("uid", "uid:gid", "name", "name:group"; root when it names none), as
    (uid, gid); ``with_groups``: (uid, gid, the groups that list it as a member)."""

    def text(rel):
        return (image.find_in_rootfs(img, rel) or b"").decode(errors="replace")
    uid, gid, passwd, group = 0, 0, None, None
    if spec_text:
        passwd, group = text("/etc/passwd"), text("/etc/group")
        try:
            uid, gid = imgconfig.resolve_user(spec_text, passwd, group)
        except InvalidArgument as e:
            raise InvalidArgument(f"image {image.display_name(img)}: {e}") from None
        uid, gid = spec.parse_user(f"{uid}:{gid}")
    if not with_groups:
        return uid, gid
    if passwd is None:
        passwd, group = text("/etc/passwd"), text("/etc/group")
    return uid, gid, imgconfig.member_groups(uid, passwd, group)


def stop_signal(img: dict) -> int:
    """The signal `stop` sends first: the image's StopSignal, else SIGTERM."""
    text = img.get("config", {}).get("StopSignal")
    try:
        return spec.parse_signal(text) if text else 15
    except InvalidArgument:
        return 15  # docker too falls back to SIGTERM on a signal it cannot parse
