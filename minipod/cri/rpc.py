"""What every CRI call of minipod's shares: a minipod error as the gRPC
status that says what it is, times as the CRI's nanoseconds, and the
filesystem usage its stats report."""

import functools
import os

import grpc

from minipod.errors import AlreadyExists, InUse, InvalidArgument, InvalidState, MinipodError, NotFound, TimedOut

CODES = [(NotFound, grpc.StatusCode.NOT_FOUND), (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
         (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS), (InvalidState, grpc.StatusCode.FAILED_PRECONDITION),
         (InUse, grpc.StatusCode.FAILED_PRECONDITION), (TimedOut, grpc.StatusCode.DEADLINE_EXCEEDED)]


def rpc(method):
    """A minipod error as the gRPC status of its kind; anything else is a
    bug, said as INTERNAL with its text (and logged by the server)."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except MinipodError as e:
            code = next((c for cls, c in CODES if isinstance(e, cls)), grpc.StatusCode.UNKNOWN)
            context.abort(code, str(e))
        except Exception as e:  # noqa: BLE001  (one bad call must not end the server)
            import traceback
            traceback.print_exc()
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {e}")
    return wrapper


def ns(seconds) -> int:
    return int((seconds or 0) * 1e9)


def usage_of(top) -> tuple:
    """(bytes, inodes) of everything below ``top``."""
    used = inodes = 0
    for root, dirs, files in os.walk(top):
        for name in files + dirs:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            used += st.st_blocks * 512
            inodes += 1
    return used, inodes


def mount_point(path) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path
