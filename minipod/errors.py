"""The one exception hierarchy of minipod.

Every error a user can cause or fix is a MinipodError; the CLI prints its
message on one line and exits with its ``exit_code`` (docker/podman codes:
125 runtime error, 126 command cannot be invoked, 127 command not found).
"""


class MinipodError(Exception):
    """Base class: a failure minipod reports as one line and exit code 125."""

    exit_code = 125


class InvalidArgument(MinipodError):
    """A flag, name, port, CIDR or other user input is malformed."""


class NotFound(MinipodError):
    """The named image, container, pod or network does not exist."""


class AlreadyExists(MinipodError):
    """The name is already taken by another object of the same kind."""


class Conflict(MinipodError):
    """A write's precondition failed: the object changed since the writer
    read it (its resourceVersion differs); the API's 409 Conflict."""


class Forbidden(MinipodError):
    """The request is well formed but may not be done now (a new object in
    a namespace being deleted); the API's 403."""


class InUse(MinipodError):
    """The object is still used (image by a container, pod by containers,
    network by pods, host port by another pod) and cannot be changed."""


class InvalidState(MinipodError):
    """The object is not in a state that allows the operation (e.g. exec
    into a stopped container)."""


class UnsafeArchive(MinipodError):
    """A rootfs archive has an entry that would escape or corrupt the
    rootfs; the message names the entry."""


class CNIError(MinipodError):
    """A CNI plugin failed or its configuration is invalid.

    ``code``, ``msg`` and ``details`` mirror the CNI error JSON.
    """

    def __init__(self, message, code=None, details=""):
        super().__init__(message)
        self.code = code
        self.details = details


class ContainerStartError(MinipodError):
    """The container's setup failed before its command could be executed."""


class CommandNotExecutable(MinipodError):
    """The container's command exists but cannot be executed (exit 126)."""

    exit_code = 126


class CommandNotFound(MinipodError):
    """The container's command does not exist (exit 127)."""

    exit_code = 127


class TimedOut(MinipodError):
    """A wait ran out of time (kubectl wait's exit code 1)."""

    exit_code = 1
