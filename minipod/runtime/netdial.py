"""Open a TCP connection from inside a network namespace (what the kubelet
does for port-forward: localhost in the pod, so a server bound to
127.0.0.1 there is reached too). A network namespace is per thread: a
thread of its own joins the pod's and makes the socket, which stays in
that namespace; the thread ends, and no other thread ever left the host's."""

import socket
import threading

from minipod.runtime import syscalls


def connect(netns_path: str, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    """A connected socket to host:port in the namespace pinned at ``netns_path``
    (None: the host's own, for a pod on the host's network)."""
    if netns_path is None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)
        return sock
    result = {}

    def dial():
        try:
            syscalls.setns_path(netns_path, syscalls.NS_FLAGS["net"])
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.settimeout(None)
            result["sock"] = sock
        except OSError as e:
            result["error"] = e
    t = threading.Thread(target=dial, name="netdial", daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]
