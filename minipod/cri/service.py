"""The CRI server's services on a gRPC server, in both API versions
(runtime.v1 and runtime.v1alpha2: kubelet 1.20 speaks only v1alpha2,
current tools only v1), from one implementation of each:
runtime_service.Runtime and image_service.Images."""

import importlib

from minipod.cri.image_service import Images
from minipod.cri.runtime_service import Runtime

VERSIONS = ("v1", "v1alpha2")


def add_to(server, streaming) -> None:
    """Both versions' services on ``server``; their Exec, Attach and
    PortForward hand out URLs of ``streaming`` (a cri.streaming.StreamingServer)."""
    for version in VERSIONS:
        pb = importlib.import_module(f"minipod_cri.{version}.api_pb2")
        stubs = importlib.import_module(f"minipod_cri.{version}.api_pb2_grpc")
        runtime = type(f"Runtime_{version}", (Runtime, stubs.RuntimeServiceServicer), {})(pb, version, streaming)
        imgs = type(f"Images_{version}", (Images, stubs.ImageServiceServicer), {})(pb)
        stubs.add_RuntimeServiceServicer_to_server(runtime, server)
        stubs.add_ImageServiceServicer_to_server(imgs, server)
