"""The CRI's image names on minipod's image store: the kubelet sends
normalized references (docker.io/library/busybox:latest) or an image's id
(its digest, as ImageStatus gave it); minipod's store names its images by
the same references (minipod.image.reference). A reference resolves to a
local image first, so nothing reaches a registry when the image is here."""

from minipod import image
from minipod.errors import MinipodError

# The kubelet's sandbox image: minipod's own pause stands for it (no image is pulled),
# as CRI-O's pause_image and containerd's sandbox_image do.
SANDBOX_IMAGES = ("k8s.gcr.io/pause", "registry.k8s.io/pause")


def find(ref: str):
    """The image record ``ref`` names (by id or reference), or None."""
    if not ref:
        return None
    try:
        return image.find(ref)
    except MinipodError:  # a reference minipod cannot hold is no image of it
        return None


def pull(ref: str) -> dict:
    """PullImage: the local image if there is one, else skopeo (only for a
    reference that names its registry; minipod never guesses one)."""
    found = find(ref)
    if found is not None:
        return found
    from minipod.image import pull as pulling
    return pulling.pull(ref, warn=lambda _m: None)


def repo_tags(rec: dict) -> list:
    """Normalised, as containerd and CRI-O report them (the kubelet matches them so)."""
    return image.references(rec)
