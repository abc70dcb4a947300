"""`python -m minipod.apiserver --address A --port P`: the API server's
process (started by minipod.apiserver.ensure_running)."""

import argparse
import asyncio
import os
import signal
import sys


def main() -> int:
    from minipod import apiserver, state
    from minipod.apiserver import pki, rest, server
    parser = argparse.ArgumentParser(prog="minipod.apiserver")
    parser.add_argument("--address", default=apiserver.address())
    parser.add_argument("--port", type=int, default=apiserver.port())
    args = parser.parse_args()
    if not apiserver.DAEMON.take_lock():
        print("minipod.apiserver: another API server runs", file=sys.stderr)
        return 1
    state.cache_records()  # every request reads the pod and container records
    files = pki.ensure(args.address)
    pki.write_kubeconfig(apiserver.server_url(args.address, args.port), files)
    info = {"pid": os.getpid(), "address": args.address, "port": args.port}
    rest.finish_terminating_namespaces()  # a server killed between a namespace's two halves of deletion

    def ready():
        apiserver.DAEMON.write_info({**info, "listening": True})
        print(f"minipod.apiserver: serving {apiserver.server_url(args.address, args.port)}", flush=True)

    # uvloop: libuv's event loop, with TLS in C (asyncio's own TLS layer was a tenth of a PATCH's time)
    import uvloop
    loop = uvloop.new_event_loop()
    task = loop.create_task(server.serve(args.address, args.port, files, ready))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    except OSError as e:
        print(f"minipod.apiserver: cannot listen on {args.address}:{args.port}: {e.strerror}", file=sys.stderr)
        return 1
    finally:
        apiserver.pid_path().unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
