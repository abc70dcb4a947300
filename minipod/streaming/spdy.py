"""SPDY/3.1, as kubectl and the kubelet speak it for streams (moby's
spdystream): what kubectl before 1.30 uses for exec, and every kubectl for
port-forward (current ones tunnel it through a WebSocket whose
subprotocol is SPDY/3.1+portforward.k8s.io; older ones upgrade the HTTP
connection itself).

No well-kept Python SPDY library exists (the protocol was superseded by
HTTP/2 in 2015; only Kubernetes still speaks it), so the framing is here:
control frames (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY,
HEADERS, WINDOW_UPDATE) and data frames, header blocks compressed with
zlib and SPDY/3's dictionary. As spdystream, flow control is not enforced.

On top of it, the two Kubernetes protocols:
  - remotecommand v4.channel.k8s.io (exec): the client opens the streams
    error, stdin, stdout, stderr, resize; the exit Status is written on
    error, as on the WebSocket protocol;
  - portforward.k8s.io: per connection, an error and a data stream with a
    port header; the data stream is carried to that port inside the pod's
    network namespace (as the kubelet does: localhost in the pod)."""

import asyncio
import json
import struct
import zlib

from aiohttp import WSMsgType, web

from minipod.streaming import StreamError, sessions

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_FRAME = 1 << 24
CHUNK = 32 << 10
EXEC_PROTOCOLS = ("v4.channel.k8s.io",)
PORTFORWARD_PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"

# The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1):
# length-prefixed words, then a block of plain text.
_WORDS = ("options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
          "age allow authorization cache-control connection content-base content-encoding content-language "
          "content-length content-location content-md5 content-range content-type date etag expect expires from "
          "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
          "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
          "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status 200_OK version "
          "HTTP/1.1 url public set-cookie keep-alive origin").split(" ")  # "200_OK" is the one word "200 OK"
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 "
         "Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 "
         "Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr "
         "May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,"
         "image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
         "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.replace("_", " ").encode() for w in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    pass


class Stream:
    """One SPDY stream: its headers, what the peer sends (read), what we send (write, close)."""

    def __init__(self, session, stream_id: int, headers: dict):
        self.session, self.id, self.headers = session, stream_id, headers
        self.incoming = asyncio.Queue()
        self.remote_closed = False
        self.local_closed = False

    async def read(self) -> bytes:
        """The next chunk the peer sent; b"" once it closed its side."""
        if self.remote_closed and self.incoming.empty():
            return b""
        return await self.incoming.get()

    async def write(self, data: bytes) -> None:
        if self.local_closed or self.session.closed:
            return
        for i in range(0, len(data), CHUNK):
            await self.session.send_data(self.id, data[i:i + CHUNK], False)

    async def close(self) -> None:
        if not self.local_closed and not self.session.closed:
            self.local_closed = True
            await self.session.send_data(self.id, b"", True)

    def _feed(self, data: bytes, fin: bool):
        if data:
            self.incoming.put_nowait(data)
        if fin and not self.remote_closed:
            self.remote_closed = True
            self.incoming.put_nowait(b"")


class Session:
    """The server's side of a SPDY/3.1 connection over ``read(n)`` (exactly n
    bytes, or fewer at the end) and ``write(data)``; ``on_stream(stream)``
    is called for each stream the client opens, after its SYN_REPLY."""

    def __init__(self, read, write, on_stream):
        self._read, self._write, self.on_stream = read, write, on_stream
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self.streams = {}
        self.closed = False
        self.lock = asyncio.Lock()

    async def _exact(self, n: int) -> bytes:
        data = await self._read(n)
        if len(data) != n:
            raise EOFError
        return data

    def _headers(self, block: bytes) -> dict:
        try:
            raw = self.inflate.decompress(block)
        except zlib.error as e:
            raise ProtocolError(f"bad header block: {e}") from None
        out, pos = {}, 4
        (count,) = struct.unpack_from(">I", raw, 0)
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + n].decode("latin-1").lower()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", raw, pos)
            out[name] = raw[pos + 4:pos + 4 + n].decode("latin-1").split("\x00")[0]
            pos += 4 + n
        return out

    def _header_block(self, headers: dict) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            raw += struct.pack(">I", len(name)) + name.lower().encode() + struct.pack(">I", len(value)) + value.encode()
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    async def _control(self, kind: int, flags: int, payload: bytes):
        async with self.lock:
            await self._write(struct.pack(">HHI", 0x8000 | 3, kind, (flags << 24) | len(payload)) + payload)

    async def send_data(self, stream_id: int, data: bytes, fin: bool):
        async with self.lock:
            await self._write(struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data))
                              + data)

    async def run(self):
        """Read frames until the client goes away (or breaks the protocol)."""
        try:
            while True:
                head = await self._exact(8)
                first, second = struct.unpack(">II", head)
                flags, length = second >> 24, second & 0xFFFFFF
                payload = await self._exact(length) if length else b""
                if first & 0x80000000:
                    await self._on_control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, payload)
                else:
                    stream = self.streams.get(first & 0x7FFFFFFF)
                    if stream is not None:
                        stream._feed(payload, bool(flags & FLAG_FIN))
        except (EOFError, ConnectionError, ProtocolError, struct.error):
            pass  # the client went away, or broke the protocol: the session ends either way
        finally:
            self.closed = True
            for s in self.streams.values():
                s._feed(b"", True)

    async def _on_control(self, version, kind, flags, payload):
        if version != 3:
            raise ProtocolError(f"SPDY version {version}")
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
            stream = Stream(self, stream_id, self._headers(payload[10:]))
            self.streams[stream_id] = stream
            await self._control(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._header_block({}))
            if flags & FLAG_FIN:
                stream._feed(b"", True)
            self.on_stream(stream)
        elif kind == RST_STREAM:
            stream = self.streams.get(struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF)
            if stream is not None:
                stream.local_closed = True
                stream._feed(b"", True)
        elif kind == PING:
            await self._control(PING, 0, payload)
        elif kind == GOAWAY:
            raise EOFError
        elif kind == HEADERS:
            self._headers(payload[4:])  # keeps the decompressor in step
        # SETTINGS, WINDOW_UPDATE: nothing to do (no flow control, as spdystream)

    async def goaway(self):
        if not self.closed:
            try:
                await self._control(GOAWAY, 0, struct.pack(">II", 0, 0))
            except (ConnectionError, RuntimeError):
                pass


# ------------------------------------------------------- the transports

class _Feeder:
    """What aiohttp feeds an upgraded connection's bytes to (its payload
    parser interface), kept in an asyncio.StreamReader."""

    def __init__(self):
        self.reader = asyncio.StreamReader(limit=MAX_FRAME * 2)

    def feed_data(self, data):
        self.reader.feed_data(data)
        return False, b""

    def feed_eof(self):
        self.reader.feed_eof()


async def _upgraded(request, protocol: str, handle):
    """Answer an HTTP Upgrade to SPDY/3.1 and run a session on the connection."""
    feeder = _Feeder()
    request.protocol.set_parser(feeder)
    response = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                                       "X-Stream-Protocol-Version": protocol})
    response.force_close()
    await response.prepare(request)
    transport = request.transport

    async def read(n):
        try:
            return await feeder.reader.readexactly(n)
        except asyncio.IncompleteReadError as e:
            return e.partial

    async def write(data):
        if transport is None or transport.is_closing():
            raise ConnectionResetError
        transport.write(data)

    await handle(read, write)
    if transport is not None:
        transport.close()
    return response


async def _tunneled(request, handle):
    """SPDY carried in the binary messages of a WebSocket (kubectl ≥ 1.31's port-forward)."""
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=MAX_FRAME * 2)
    await ws.prepare(request)
    buffer = bytearray()

    async def read(n):
        while len(buffer) < n:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                buffer.extend(msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                data = bytes(buffer)
                buffer.clear()
                return data
        data = bytes(buffer[:n])
        del buffer[:n]
        return data

    async def write(data):
        if ws.closed:
            raise ConnectionResetError
        await ws.send_bytes(data)

    await handle(read, write)
    await ws.close()
    return ws


def _chosen(request, offered_ok) -> str:
    offered = [v.strip() for h in request.headers.getall("X-Stream-Protocol-Version", []) for v in h.split(",")]
    for p in offered:
        if p in offered_ok:
            return p
    raise StreamError(403, f"none of the stream protocols {offered} is served (minipod: {', '.join(offered_ok)})")


# ------------------------------------------------------------------ exec

async def serve_exec(request, rec: dict, opts: dict, attach: bool = False):
    """Run ``opts``' command in container ``rec`` (or attach to it, with
    ``attach``) for the SPDY client of ``request``."""
    protocol = _chosen(request, EXEC_PROTOCOLS)
    wanted = {"error"} | {k for k in ("stdin", "stdout", "stderr") if opts[k]} | ({"resize"} if opts["tty"] else set())
    if opts["tty"]:
        wanted.discard("stderr")  # a terminal has one output

    async def handle(read, write):
        arrived = {}
        ready = asyncio.Event()

        def on_stream(stream):
            arrived[stream.headers.get("streamtype")] = stream
            if wanted <= set(arrived):
                ready.set()
        session = Session(read, write, on_stream)
        runner = asyncio.ensure_future(session.run())
        try:
            await asyncio.wait_for(ready.wait(), 30)
        except asyncio.TimeoutError:
            runner.cancel()
            return
        proc = sessions.session(rec, opts, attach)
        try:
            await proc.start()
            tasks = []
            if "stdin" in arrived:
                async def stdin():
                    while True:
                        data = await arrived["stdin"].read()
                        if not data:
                            proc.close_stdin()
                            return
                        await proc.write(data)
                tasks.append(asyncio.ensure_future(stdin()))
            if "resize" in arrived:
                async def resizes():
                    buf = b""
                    while True:
                        data = await arrived["resize"].read()
                        if not data:
                            return
                        buf += data
                        decoder = json.JSONDecoder()
                        text = buf.decode(errors="replace").lstrip()
                        while text:
                            try:
                                size, end = decoder.raw_decode(text)
                            except ValueError:
                                break
                            if isinstance(size, dict):
                                proc.resize(size.get("Width"), size.get("Height"))
                            text = text[end:].lstrip()
                        buf = text.encode()
                tasks.append(asyncio.ensure_future(resizes()))

            async def send(n, data):
                stream = arrived.get("stdout" if n == sessions.STDOUT else "stderr") or arrived.get("stdout")
                if stream is not None:
                    await stream.write(data)
            code = await proc.outputs(send)
            await arrived["error"].write(json.dumps(sessions.exit_status(code)).encode())
            for s in arrived.values():
                await s.close()
            for t in tasks:
                t.cancel()
        except (ConnectionError, RuntimeError):
            pass
        finally:
            proc.kill()
            proc.close()
            await session.goaway()
            runner.cancel()

    return await _upgraded(request, protocol, handle)


# ---------------------------------------------------------- port-forward

async def serve_portforward(request, netns: str):
    """Carry each connection the client of ``request`` forwards to its port
    on localhost in the network namespace ``netns``."""
    from minipod.streaming import forward
    ports = [p for h in request.query.getall("ports", []) for p in h.split(",") if p]

    async def handle(read, write):
        pairs = {}  # requestID -> {"error": stream, "data": stream}
        tasks = set()

        def on_stream(stream):
            rid = stream.headers.get("requestid", "")
            pair = pairs.setdefault(rid, {})
            pair[stream.headers.get("streamtype")] = stream
            if "error" in pair and "data" in pair:
                t = asyncio.ensure_future(forward.carry(netns, pair["data"], pair["error"], ports))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        session = Session(read, write, on_stream)
        try:
            await session.run()
        finally:
            for t in list(tasks):
                t.cancel()

    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _tunneled(request, handle)
    _chosen(request, (PORTFORWARD_PROTOCOL,))
    return await _upgraded(request, PORTFORWARD_PROTOCOL, handle)
