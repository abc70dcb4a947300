"""Port-forward's far end: the pod's network namespace, a connection to a
port on its localhost per forwarded connection, and bytes carried between
it and the client's data stream (errors on the error stream, in the
kubelet's words)."""

import asyncio


async def carry(netns: str, data, error, allowed_ports) -> None:
    """One forwarded connection: ``data`` and ``error`` are the client's streams."""
    from minipod.runtime import netdial
    port_text = data.headers.get("port", "")
    try:
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ValueError
        sock = await asyncio.to_thread(netdial.connect, netns, port)
    except ValueError:
        await error.write(f"invalid port {port_text!r}".encode())
        await error.close()
        await data.close()
        return
    except OSError as e:
        await error.write(f"error forwarding port {port_text} to pod: failed to connect to localhost:{port_text} "
                          f"inside the pod's network namespace: {e.strerror or e}".encode())
        await error.close()
        await data.close()
        return
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)

    async def to_pod():
        while True:
            chunk = await data.read()
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def from_pod():
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            await data.write(chunk)
        await data.close()
    up = asyncio.ensure_future(to_pod())
    try:
        await from_pod()
        await asyncio.wait_for(asyncio.shield(up), 1.0)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        up.cancel()
        writer.close()
        await error.close()
