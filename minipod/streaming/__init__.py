"""The Kubernetes streaming protocols, served for a container or a pod
already chosen: exec, attach and port-forward over SPDY/3.1 (spdy.py) or a
WebSocket (channels.py), with the command's or the container's own stdio
behind them (sessions.py) and port-forward's far end in the pod's network
namespace (forward.py).

Two servers speak them: the Kubernetes API server (minipod.apiserver, for
kubectl, which finds the target from a pod's namespace and name) and the
CRI's streaming server (minipod.cri.streaming, for the kubelet, which finds
it from the token of an Exec, Attach or PortForward call). Nothing here
knows which one asked."""


class StreamError(Exception):
    """A stream request refused before it was upgraded: the HTTP status and
    the message the client shows."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
