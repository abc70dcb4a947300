"""Images as containers use them: the image a container runs (by its id,
as docker keeps it: a reference may have moved to another image since), and
`image rm`, refused while a container uses the image."""

import contextlib

from minipod import image
from minipod.errors import MinipodError


def image_of(rec: dict):
    """The image record a container runs, or None (gone, or a reference nothing answers any more)."""
    with contextlib.suppress(MinipodError):
        return image.find(rec.get("image_id") or rec["image"])
    return None


def remove_image(ref: str, force: bool, containers: list, every_reference: bool = False) -> tuple:
    """`image rm` (see image.remove), given every container (with its
    status: container.list_containers()); returns (the references untagged,
    the id deleted or None, the layers freed)."""
    def users_of(record):
        return [c for c in containers if (image_of(c) or {}).get("id") == record["id"]]
    return image.remove(ref, force, users_of, every_reference)
