"""exec and attach over a WebSocket, the channel protocol of current
kubectl (v5.channel.k8s.io, and v4): one binary message per chunk, its
first byte the stream (0 stdin, 1 stdout, 2 stderr, 3 the exit Status, 4 a
terminal resize, 255 a stream's close in v5)."""

import asyncio
import json

from aiohttp import WSMsgType, web

from minipod.streaming import sessions
from minipod.streaming.sessions import CLOSE, ERROR, RESIZE, STDIN

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
MAX_MESSAGE = 4 << 20


async def serve_exec(request, rec: dict, opts: dict, attach: bool = False):
    """Run ``opts``' command in container ``rec`` (or attach to it) for the
    WebSocket client of ``request``."""
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=MAX_MESSAGE, autoping=True, heartbeat=None)
    await ws.prepare(request)
    v5 = ws.ws_protocol == "v5.channel.k8s.io"
    proc = sessions.session(rec, opts, attach)
    try:
        await proc.start()

        async def send(stream, data):
            await ws.send_bytes(bytes([stream]) + data)

        async def inputs():
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                stream, data = msg.data[0], msg.data[1:]
                if stream == STDIN and data:
                    await proc.write(data)
                elif stream == RESIZE:
                    try:
                        size = json.loads(data)
                        proc.resize(size.get("Width"), size.get("Height"))
                    except (ValueError, AttributeError):
                        pass
                elif stream == CLOSE and v5 and data[:1] == bytes([STDIN]):
                    proc.close_stdin()
            proc.kill()  # the client went away

        reader = asyncio.ensure_future(inputs())
        code = await proc.outputs(send)
        if not ws.closed:
            await ws.send_bytes(bytes([ERROR]) + json.dumps(sessions.exit_status(code)).encode())
            await ws.close()
        reader.cancel()
    finally:
        proc.kill()
        proc.close()
    return ws
