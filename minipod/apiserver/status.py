"""meta/v1 Status: what the API server answers when a request fails, with
the HTTP code and reason kubectl prints ("Error from server (NotFound):
pods "x" not found"). Every MinipodError maps to one; nothing else is
ever shown to a client but a 500 that says it is a bug."""

from minipod import errors

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           406: "NotAcceptable", 409: "Conflict", 410: "Expired", 413: "RequestEntityTooLarge",
           415: "UnsupportedMediaType", 422: "Invalid", 500: "InternalError", 504: "Timeout"}


class APIError(Exception):
    """A failed request: code, reason and message of its Status."""

    def __init__(self, code: int, message: str, reason: str = None, details: dict = None):
        super().__init__(message)
        self.code = code
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details


def status(code: int, message: str, reason: str = None, details: dict = None) -> dict:
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {},
           "status": "Success" if code < 400 else "Failure", "message": message,
           "reason": reason or REASONS.get(code, "Unknown"), "code": code}
    if details:
        out["details"] = details
    return out


# The API's answer to each kind of MinipodError, most specific first.
_CODES = ((errors.NotFound, 404, "NotFound"), (errors.AlreadyExists, 409, "AlreadyExists"),
          (errors.Conflict, 409, "Conflict"), (errors.Forbidden, 403, "Forbidden"), (errors.InUse, 409, "Conflict"),
          (errors.InvalidArgument, 422, "Invalid"), (errors.MinipodError, 500, "InternalError"))


def of_error(e: Exception, kind: str = None, name: str = None) -> APIError:
    """The APIError for a MinipodError raised by the verbs."""
    details = {k: v for k, v in (("name", name), ("kind", kind)) if v}
    if isinstance(e, APIError):
        return e
    for cls, code, reason in _CODES:
        if isinstance(e, cls):
            return APIError(code, str(e), reason, details)
    return APIError(500, f"internal error (a bug in minipod): {type(e).__name__}: {e}", "InternalError")
