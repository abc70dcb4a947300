"""The UI's HTTP server (aiohttp): the page, the picture, its live updates
(server-sent events), traces, and a namespace's reachability matrix."""

import asyncio
import hmac
import json
import secrets
from pathlib import Path

from aiohttp import web

from minipod.ui import picture

PAGE = Path(__file__).with_name("page.html")
COOKIE = "minipod-ui"
INTERVAL = 0.5  # how often the node is looked at for changes


def _authorized(request, token: str) -> bool:
    given = request.query.get("token") or request.cookies.get(COOKIE) or ""
    return hmac.compare_digest(given, token)


def make_app(token: str) -> web.Application:
    @web.middleware
    async def auth(request, handler):
        if not _authorized(request, token):
            return web.Response(status=401, text="minipod ui: open the URL `minipod ui` printed (it holds the token)\n")
        response = await handler(request)
        if request.query.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    async def page(request):
        return web.Response(text=PAGE.read_text(), content_type="text/html")

    async def svg(request):
        m = await asyncio.to_thread(picture.model)
        return web.Response(text=picture.svg(m), content_type="image/svg+xml")

    async def model(request):
        return web.json_response(await asyncio.to_thread(picture.model))

    async def events(request):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        last = None
        try:
            while True:
                m = await asyncio.to_thread(picture.model)
                now = picture.digest(m)
                if now != last:
                    last = now
                    data = json.dumps({"svg": picture.svg(m), "pods": [p["name"] for p in m["pods"]]})
                    await response.write(f"event: picture\ndata: {data}\n\n".encode())
                await asyncio.sleep(INTERVAL)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    async def reachability(request):
        from minipod.views import reachability as view
        namespace, probe = request.query.get("namespace") or "default", request.query.get("probe") == "1"
        return web.json_response(await asyncio.to_thread(view.matrix, namespace, probe))

    async def trace(request):
        body = await request.json()
        dest, source = str(body.get("dest", "")), str(body.get("from") or "host")

        def run():
            from minipod.errors import MinipodError
            from minipod.trace import report, run as tracing
            try:
                result = tracing.trace(source, dest, namespace=str(body.get("namespace") or "default"))
            except MinipodError as e:
                return {"error": str(e)}
            out = report.as_json(result)
            return {"text": report.text(result), "trace": out, **picture.trace_marks(picture.model(), out)}
        return web.json_response(await asyncio.to_thread(run))

    app = web.Application(middlewares=[auth])
    app.router.add_get("/", page)
    app.router.add_get("/picture.svg", svg)
    app.router.add_get("/model", model)
    app.router.add_get("/events", events)
    app.router.add_post("/trace", trace)
    app.router.add_get("/reachability", reachability)
    return app


def serve(port: int, ready=None) -> None:
    """Serve on 127.0.0.1:``port`` until interrupted; ``ready(url)`` once it listens."""
    token = secrets.token_urlsafe(24)

    async def main():
        runner = web.AppRunner(make_app(token), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        if ready:
            ready(f"http://127.0.0.1:{runner.addresses[0][1]}/?token={token}")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
