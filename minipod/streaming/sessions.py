"""What a stream request runs behind its transport: a command in the
container (``Process``: `minipod exec`, a process of its own, so that an
exec through a server is the very exec of the CLI: namespaces,
capabilities, seccomp, cgroup, user), or the container's own stdio
(``Attachment``: its terminal through its console, or its stdin and
output through its CRI log writer, or its stdin fifo and log). Both have
``start``, ``write``, ``close_stdin``, ``resize``, ``outputs(send)`` (until
the end, returning the exit code), ``kill`` and ``close``."""

import asyncio
import fcntl
import json
import os
import struct
import sys
import termios

from minipod.streaming import StreamError

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exec_options(q, attach=False) -> dict:
    command = q.getall("command", [])
    if not command and not attach:
        raise StreamError(400, "you must specify at least one command for the container")
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
    from minipod.conmon.frames import write_all
    write_all(fd, data)


class Attachment:
    """`kubectl attach` (and `run -it`) to a container's own stdio, with the
    interface of Process: its terminal through its console's socket
    (minipod/conmon/tty.py); without a terminal, a CRI container's stdin and
    output through its log writer's socket (minipod/conmon/pipes.py), any other
    container's stdin fifo and its log from now on."""

    def __init__(self, rec: dict, opts: dict):
        self.rec, self.opts = rec, opts
        self.reader = self.writer = None
        self.fifo = None
        self.framed = False  # output comes as frames naming its stream (a CRI log writer's)

    async def start(self):
        console = self.rec.get("console")
        writer = self.rec.get("log_writer")
        if console or (writer and writer.get("socket")):
            self.framed = not console
            if self.framed and self.opts["stdin"] and not self.rec.get("interactive"):
                raise StreamError(400, "the container was not made with stdin: true; attach without -i")
            socket_path = (console or writer)["socket"]
            deadline = asyncio.get_running_loop().time() + 5
            while True:  # the console binds its socket just after the container starts
                try:
                    self.reader, self.writer = await asyncio.open_unix_connection(socket_path)
                    return
                except (FileNotFoundError, ConnectionRefusedError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise StreamError(400, f"container {self.rec['name']}'s stdio is gone") from None
                    await asyncio.sleep(0.05)
        if self.opts["stdin"]:
            if not self.rec.get("interactive"):
                raise StreamError(400, "the container was not made with stdin: true; attach without -i")
            from minipod.core import container
            path = container.store().dir(self.rec["id"]) / "stdin"
            self.fifo = await asyncio.to_thread(os.open, path, os.O_WRONLY | os.O_CLOEXEC)

    def _frame(self, kind: bytes, payload: bytes = b""):
        from minipod.conmon import frames
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(frames.frame(kind, payload))

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
        if self.framed:
            return await self._framed_outputs(send)
        if self.reader is not None:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return 0
                await send(STDOUT, data)
        from minipod.core import container
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

    async def _framed_outputs(self, send):
        from minipod.conmon.frames import read_frames
        buffer = b""
        while True:
            data = await self.reader.read(65536)
            if not data:
                return 0
            buffer, got = read_frames(buffer + data)
            for kind, payload in got:
                await send(STDERR if kind == b"e" else STDOUT, payload)

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
