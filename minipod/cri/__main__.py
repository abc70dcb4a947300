"""`python -m minipod.cri`: the CRI server's process (started by
minipod.cri.ensure_running). gRPC with a thread pool on a unix socket
that only root may open; both CRI versions from one implementation."""

import os
import signal
import sys
import threading


def main() -> int:
    from minipod import cri, state
    if not cri.DAEMON.take_lock():
        print("minipod.cri: another CRI server runs", file=sys.stderr)
        return 1
    from concurrent import futures

    # gRPC's fork handlers restart its threads in a forked child; minipod forks to make containers and
    # to exec in them, and setns() into a mount namespace refuses a multi-threaded caller (EINVAL).
    os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "0"
    import grpc

    from minipod.cri import service, streaming
    state.cache_records()  # every List and Status reads the pod and container records
    streams = streaming.StreamingServer()
    streams.start()
    sock = cri.socket_path()
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)  # a killed server's
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    service.add_to(server, streams)
    old = os.umask(0o177)  # the socket is made 0600: only root may dial it
    try:
        server.add_insecure_port(f"unix://{sock}")
        server.start()
    finally:
        os.umask(old)
    os.chmod(sock, 0o600)
    info = {"pid": os.getpid(), "socket": str(sock), "streaming": f"http://{streams.host}:{streams.port}",
            "serving": True}
    cri.DAEMON.write_info(info)
    print(f"minipod.cri: serving {cri.endpoint()}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        done.wait()
    finally:
        server.stop(grace=2).wait()
        streams.stop()
        cri.pid_path().unlink(missing_ok=True)
        sock.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
