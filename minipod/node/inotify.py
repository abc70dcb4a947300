"""A minimal inotify(7) binding (Python has none in its standard library):
enough to wake the agent when a record or an object changes."""

import ctypes
import os
import struct

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
CHANGES = IN_MOVED_TO | IN_CREATE | IN_DELETE

_libc = ctypes.CDLL(None, use_errno=True)
_EVENT = struct.Struct("iIII")


class Inotify:
    def __init__(self):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")

    def watch(self, path, mask=CHANGES) -> int:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(str(path)), ctypes.c_uint32(mask))
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
        return wd

    def drain(self) -> int:
        """Read every pending event; return how many there were."""
        return len(self.drain_events())

    def drain_events(self) -> list:
        """Read every pending event: [(wd, mask, name)]."""
        events = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size:offset + _EVENT.size + length].split(b"\0", 1)[0]
                events.append((wd, mask, os.fsdecode(name)))
                offset += _EVENT.size + length

    def close(self):
        os.close(self.fd)
