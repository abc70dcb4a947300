"""The CRI's streaming server: where the kubelet sends `kubectl exec`,
`attach` and `port-forward`.

The CRI's Exec, Attach and PortForward calls do not stream themselves:
each answers with the URL of the runtime's own streaming server, holding a
one-time token for that request (as the kubelet's streaming library, which
containerd and CRI-O use, does: a token is good once and for a minute).
The kubelet then proxies the client's upgraded connection to that URL, so
what arrives here is the client's own request: SPDY/3.1 (kubectl through
an API server) or a WebSocket, spoken by minipod.streaming exactly as the
Kubernetes API server speaks it to kubectl.

HTTP on 127.0.0.1 and a port of its own (MINIPOD_CRI_STREAM_PORT, else
one the kernel picks): the kubelet dials it from the same host. The server
runs an asyncio loop in a thread of the CRI server's process."""

import asyncio
import os
import secrets
import threading
import time

TOKEN_TTL = 60.0  # seconds: the kubelet's streaming library's default
KINDS = ("exec", "attach", "portforward")


class StreamingServer:
    """The server, its address once started, and the requests it holds."""

    def __init__(self, host: str = "127.0.0.1", port: int = None):
        self.host = host
        self.port = int(os.environ.get("MINIPOD_CRI_STREAM_PORT") or 0) if port is None else port
        self._pending = {}  # token -> (kind, request dict, deadline)
        self._lock = threading.Lock()
        self._loop = None
        self._runner = None

    # ------------------------------------------------------------ the RPCs' side

    def register(self, kind: str, **request) -> str:
        """The URL at which the client of an Exec/Attach/PortForward call
        is served once (``request``: what that call asked for)."""
        token = secrets.token_urlsafe(18)
        now = time.monotonic()
        with self._lock:
            for t in [t for t, (_, _, deadline) in self._pending.items() if deadline < now]:
                del self._pending[t]
            self._pending[token] = (kind, request, now + TOKEN_TTL)
        return f"http://{self.host}:{self.port}/{kind}/{token}"

    def _take(self, kind: str, token: str):
        with self._lock:
            found = self._pending.pop(token, None)
        if found is None or found[0] != kind or found[2] < time.monotonic():
            return None
        return found[1]

    # ------------------------------------------------------------ serving

    def start(self) -> None:
        """Serve from a thread of its own; returns once it listens."""
        ready = threading.Event()
        failed = []

        def run():
            try:
                asyncio.run(self._serve(ready))
            except BaseException as e:  # noqa: BLE001  (said by start(), in the caller's thread)
                failed.append(e)
                ready.set()
        threading.Thread(target=run, name="cri-streaming", daemon=True).start()
        ready.wait()
        if failed:
            raise failed[0]

    async def _serve(self, ready: threading.Event) -> None:
        from aiohttp import web
        app = web.Application()
        for kind in KINDS:
            app.router.add_route("*", f"/{kind}/{{token}}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        ready.set()
        await self._stopped.wait()
        await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)

    async def _handle(self, request):
        from aiohttp import web

        from minipod.streaming import StreamError
        kind = request.path.split("/")[1]
        wanted = self._take(kind, request.match_info["token"])
        if wanted is None:
            return web.Response(status=404, text=f"no {kind} request with this token (each is good once, "
                                                 f"for {TOKEN_TTL:g} s)\n")
        try:
            if kind == "portforward":
                from minipod.streaming import spdy
                return await spdy.serve_portforward(request, wanted["netns"])
            return await self._exec(request, wanted, attach=kind == "attach")
        except StreamError as e:
            return web.Response(status=e.code, text=str(e) + "\n")

    async def _exec(self, request, wanted: dict, attach: bool):
        from aiohttp import web

        from minipod.core import container
        from minipod.streaming import StreamError
        try:
            rec = await asyncio.to_thread(container.load, wanted["container"])
        except Exception:  # noqa: BLE001  (removed since the call: the client is told, nothing else)
            raise StreamError(404, f"container {wanted['container'][:12]} is gone") from None
        if rec["status"] != "running":
            raise StreamError(400, f"container {rec['id'][:12]} is not running")
        opts = {k: wanted[k] for k in ("command", "stdin", "stdout", "stderr", "tty")}
        opts["container"] = None
        upgrade = request.headers.get("Upgrade", "").lower()
        if upgrade == "websocket":
            from minipod.streaming import channels
            return await channels.serve_exec(request, rec, opts, attach)
        if upgrade.startswith("spdy/"):
            from minipod.streaming import spdy
            return await spdy.serve_exec(request, rec, opts, attach)
        return web.Response(status=400, text="an Upgrade to SPDY/3.1 or a WebSocket is required\n")
