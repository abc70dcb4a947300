"""The pod subresources that stream: log (`kubectl logs [-f] [--tail]
[-c]`), exec (`kubectl exec [-it] POD -- CMD`), attach (`kubectl attach`,
`kubectl run -it`: the container's own terminal, held by its console) and
port-forward.

exec speaks the WebSocket channel protocol of current kubectl
(v5.channel.k8s.io, and v4): one binary message per chunk, its first byte
the stream (0 stdin, 1 stdout, 2 stderr, 3 the exit Status, 4 a terminal
resize, 255 a stream's close in v5). SPDY/3.1 (older kubectl, and
port-forward) is in spdy.py. The command runs through `minipod exec`, a
process of its own, so that an exec through the API is the very exec of
the CLI (namespaces, capabilities, seccomp, cgroup, user)."""

import asyncio
import fcntl
import json
import os
import struct
import sys
import termios

from aiohttp import WSMsgType, web

from minipod import errors
from minipod.apiserver.status import APIError, of_error

WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _target(namespace, name, container_name):
    """The container record a pod subresource means; 400/404 as kubectl shows them."""
    from minipod.workloads import targets
    try:
        rec, _note = targets.resolve(f"pod/{name}", container_name or None, namespace)
    except errors.NotFound as e:
        if "waiting to start" in str(e):
            raise APIError(400, str(e)) from None
        raise APIError(404, str(e), details={"name": name, "kind": "pods"}) from None
    except errors.InvalidArgument as e:
        raise APIError(400, str(e)) from None
    except errors.MinipodError as e:
        raise of_error(e, "pods", name) from None
    return rec


async def serve(request, sub: str, namespace: str, name: str):
    if sub == "log":
        return await logs(request, namespace, name)
    upgrade = request.headers.get("Upgrade", "").lower()
    if sub == "portforward":
        from minipod.apiserver import spdy
        return await spdy.serve_portforward(request, namespace, name)
    attach = sub == "attach"
    if upgrade == "websocket":
        return await exec_websocket(request, namespace, name, attach)
    if upgrade.startswith("spdy/"):
        from minipod.apiserver import spdy
        return await spdy.serve_exec(request, namespace, name, attach)
    raise APIError(400, "Upgrade request required")


# ------------------------------------------------------------------ logs

def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
        return b"\n".join(parts[-lines:]) + b"\n"
    return b"\n".join(parts[-lines:])


async def logs(request, namespace, name):
    q = request.query
    rec = await asyncio.to_thread(_target, namespace, name, q.get("container"))
    if q.get("previous", "").lower() in ("1", "true"):
        # one log per container, across its restarts: the earlier runs' output is in it, before the current's
        raise APIError(400, f'minipod keeps one log per container across restarts: `kubectl logs {name}` shows '
                            "the previous runs' output too")
    follow = q.get("follow", "").lower() in ("1", "true")
    try:
        tail = int(q["tailLines"]) if "tailLines" in q else None
        limit = int(q["limitBytes"]) if "limitBytes" in q else None
    except ValueError:
        raise APIError(400, "tailLines and limitBytes must be numbers") from None
    try:
        f = open(rec["log_path"], "rb")
    except (FileNotFoundError, KeyError):
        f = None
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    if f is None:
        return response
    from minipod import container
    with f:
        data = f.read()
        if tail is not None:
            data = _tail(data, tail)
        sent = 0
        while True:
            if data:
                if limit is not None:
                    data = data[:max(limit - sent, 0)]
                sent += len(data)
                try:
                    await response.write(data)
                except (ConnectionResetError, RuntimeError):
                    return response
                if limit is not None and sent >= limit:
                    return response
            if not follow:
                return response
            if not data:
                running = await asyncio.to_thread(lambda: container.status(container.load(rec["id"])) == "running")
                if not running:
                    rest = f.read()
                    if rest:
                        await response.write(rest)
                    return response
                await asyncio.sleep(0.1)
            data = f.read()


# ------------------------------------------------------------------ exec

def exec_options(q, attach=False) -> dict:
    command = q.getall("command", [])
    if not command and not attach:
        raise APIError(400, "you must specify at least one command for the container")
    flags = {k: q.get(k, "").lower() in ("1", "true") for k in ("stdin", "stdout", "stderr", "tty")}
    return {"command": command, "container": q.get("container"), **flags}


def exit_status(code) -> dict:
    """The Status kubectl turns into its own exit code."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _set_ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def resize(master: int, width: int, height: int) -> None:
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class Process:
    """`minipod exec` of one command, with pipes, or a pty when a terminal
    is asked for; ``write``/``close_stdin``/``resize``, and ``outputs``
    calls ``send(stream, data)`` until the command is done."""

    def __init__(self, rec: dict, opts: dict):
        self.rec, self.opts = rec, opts
        self.master = None
        self.proc = None

    async def start(self):
        argv = [sys.executable, "-m", "minipod", "exec"] + (["-i"] if self.opts["stdin"] else []) + \
            (["-t"] if self.opts["tty"] else []) + [self.rec["id"], "--", *self.opts["command"]]
        if self.opts["tty"]:
            self.master, slave = os.openpty()
            os.set_blocking(self.master, False)
            try:
                # the standard library's spawn: the slave as all three fds and a controlling terminal
                # (uvloop's does not take preexec_fn's setsid and TIOCSCTTY as the stdlib does)
                import subprocess
                self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=_set_ctty,
                                             close_fds=True, cwd="/")
            finally:
                os.close(slave)
        else:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if self.opts["stdin"] else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, close_fds=True, cwd="/")

    async def write(self, data: bytes):
        if self.master is not None:
            await asyncio.to_thread(_write_all, self.master, data)
        elif self.proc.stdin is not None:
            try:
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass

    def close_stdin(self):
        if self.master is not None:
            try:
                os.write(self.master, b"\x04")
            except OSError:
                pass
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    def resize(self, width, height):
        if self.master is not None:
            try:
                resize(self.master, int(width), int(height))
            except (OSError, ValueError, TypeError):
                pass

    async def outputs(self, send):
        if self.master is not None:
            # read in a thread, not through the event loop's fd polling: a pty master is not a socket
            while True:
                data = await asyncio.to_thread(self._read_master)
                if not data:
                    break
                await send(STDOUT, data)
        else:
            async def pump(stream, n):
                while True:
                    data = await stream.read(65536)
                    if not data:
                        return
                    await send(n, data)
            await asyncio.gather(pump(self.proc.stdout, STDOUT), pump(self.proc.stderr, STDERR))
        if self.master is not None:
            return await asyncio.to_thread(self.proc.wait)
        return await self.proc.wait()

    def _read_master(self) -> bytes:
        """The terminal's next output; b"" once every slave end is closed."""
        import select
        while self.master is not None:
            if not select.select([self.master], [], [], 1.0)[0]:
                continue
            try:
                return os.read(self.master, 65536)
            except BlockingIOError:
                continue
            except OSError:  # EIO: the command and everything on its terminal are gone
                return b""
        return b""

    def kill(self):
        if self.proc and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    def close(self):
        if self.master is not None:
            os.close(self.master)
            self.master = None


def _write_all(fd, data):
    from minipod.console import write_all
    write_all(fd, data)


class Attachment:
    """`kubectl attach` (and `run -it`) to a container's own stdio, with the
    interface of Process: its terminal through its console's socket
    (minipod/console.py), or, without a terminal, its stdin fifo and its
    log from now on."""

    def __init__(self, rec: dict, opts: dict):
        self.rec, self.opts = rec, opts
        self.reader = self.writer = None
        self.fifo = None

    async def start(self):
        console = self.rec.get("console")
        if console:
            deadline = asyncio.get_running_loop().time() + 5
            while True:  # the console binds its socket just after the container starts
                try:
                    self.reader, self.writer = await asyncio.open_unix_connection(console["socket"])
                    return
                except (FileNotFoundError, ConnectionRefusedError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise APIError(400, f"container {self.rec['name']}'s terminal is gone") from None
                    await asyncio.sleep(0.05)
        if self.opts["stdin"]:
            if not self.rec.get("interactive"):
                raise APIError(400, "the container was not made with stdin: true; attach without -i")
            from minipod import container
            path = container.store().dir(self.rec["id"]) / "stdin"
            self.fifo = await asyncio.to_thread(os.open, path, os.O_WRONLY | os.O_CLOEXEC)

    def _frame(self, kind: bytes, payload: bytes = b""):
        from minipod import console
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(console.frame(kind, payload))

    async def write(self, data: bytes):
        if self.writer is not None:
            self._frame(b"i", data)
            await self.writer.drain()
        elif self.fifo is not None:
            await asyncio.to_thread(_write_all, self.fifo, data)

    def close_stdin(self):
        if self.writer is not None:
            self._frame(b"c")
        elif self.fifo is not None:
            os.close(self.fifo)  # the container itself holds the fifo open: it reads on
            self.fifo = None

    def resize(self, width, height):
        try:
            self._frame(b"r", json.dumps({"Width": int(width), "Height": int(height)}).encode())
        except (TypeError, ValueError):
            pass

    async def outputs(self, send):
        if self.reader is not None:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return 0
                await send(STDOUT, data)
        from minipod import container
        try:
            f = open(self.rec["log_path"], "rb")
        except FileNotFoundError:
            return 0
        with f:
            f.seek(0, os.SEEK_END)  # what the container writes from now on
            while True:
                data = f.read(65536)
                if data:
                    await send(STDOUT, data)
                    continue
                if not await asyncio.to_thread(lambda: container.status(container.load(self.rec["id"])) == "running"):
                    rest = f.read()
                    if rest:
                        await send(STDOUT, rest)
                    return 0
                await asyncio.sleep(0.1)

    def kill(self):
        pass  # the container is not ours to stop: the session only ends

    def close(self):
        if self.writer is not None:
            self.writer.close()
        if self.fifo is not None:
            os.close(self.fifo)
            self.fifo = None


def session(rec: dict, opts: dict, attach: bool):
    return Attachment(rec, opts) if attach else Process(rec, opts)


async def exec_websocket(request, namespace, name, attach=False):
    opts = exec_options(request.query, attach)
    rec = await asyncio.to_thread(_target, namespace, name, opts["container"])
    if rec.get("status") != "running" and not await asyncio.to_thread(_running, rec):
        raise APIError(400, f"container {opts['container'] or ''} is not running".replace("  ", " "))
    ws = web.WebSocketResponse(protocols=WS_PROTOCOLS, max_msg_size=MAX_MESSAGE, autoping=True, heartbeat=None)
    await ws.prepare(request)
    v5 = ws.ws_protocol == "v5.channel.k8s.io"
    proc = session(rec, opts, attach)
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
            await ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(code)).encode())
            await ws.close()
        reader.cancel()
    finally:
        proc.kill()
        proc.close()
    return ws


def _running(rec) -> bool:
    from minipod import container
    return container.status(container.load(rec["id"])) == "running"


MAX_MESSAGE = 4 << 20
