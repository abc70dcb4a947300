"""The CRI's ImageService over minipod's image store, for one API
version's messages."""

import time

from minipod import image, paths
from minipod.cri import images
from minipod.cri.rpc import mount_point, rpc, usage_of


class Images:
    """ImageService, over one version's messages ``pb``."""

    def __init__(self, pb):
        self.pb = pb

    def _image(self, rec):
        return self.pb.Image(id=rec["digest"], repo_tags=images.repo_tags(rec), size=rec.get("size", 0))

    @rpc
    def ListImages(self, request, context):
        want = request.filter.image.image if request.HasField("filter") else ""
        recs = [images.find(want)] if want else image.list_images()
        return self.pb.ListImagesResponse(images=[self._image(r) for r in recs if r is not None])

    @rpc
    def ImageStatus(self, request, context):
        rec = images.find(request.image.image)
        # an absent image is no error: the response has no image
        return self.pb.ImageStatusResponse(image=self._image(rec)) if rec else self.pb.ImageStatusResponse()

    @rpc
    def PullImage(self, request, context):
        return self.pb.PullImageResponse(image_ref=images.pull(request.image.image)["digest"])

    @rpc
    def RemoveImage(self, request, context):
        rec = images.find(request.image.image)
        if rec is not None:  # idempotent: an image already gone is no error
            from minipod.core import container, images as in_use
            # by id, whatever names it, as the CRI removes; refused while a container uses it
            in_use.remove_image(rec["digest"], False, container.list_containers(), every_reference=True)
        return self.pb.RemoveImageResponse()

    @rpc
    def ImageFsInfo(self, request, context):
        used = inodes = 0
        for sub in ("images", "layers"):
            u, i = usage_of(paths.lib_root() / sub)
            used, inodes = used + u, inodes + i
        # the mount point of their filesystem: the kubelet finds its capacity by it (image GC thresholds)
        return self.pb.ImageFsInfoResponse(image_filesystems=[self.pb.FilesystemUsage(
            timestamp=time.time_ns(), fs_id=self.pb.FilesystemIdentifier(mountpoint=mount_point(paths.lib_root())),
            used_bytes=self.pb.UInt64Value(value=used), inodes_used=self.pb.UInt64Value(value=inodes))])
