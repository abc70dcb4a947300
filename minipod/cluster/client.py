"""The few calls `minipod cluster` makes to the cluster's kube-apiserver
(JSON over HTTPS, the standard library's): GET an object, create one
unless it exists, wait until an endpoint answers. The CA pins the server;
a client certificate (a file holding it, and its key or a key file)
authenticates, or nothing does (anonymous, for the public cluster-info)."""

import json
import ssl
import time
import urllib.error
import urllib.request

from minipod.errors import MinipodError


class Unreachable(MinipodError):
    """The server did not answer (refused, timed out, TLS failed)."""


class Client:
    def __init__(self, server: str, ca_file: str = None, cert_file: str = None, key_file: str = None,
                 verify: bool = True):
        self.server = server.rstrip("/")
        self.context = ssl.create_default_context(cafile=ca_file) if verify else ssl._create_unverified_context()
        if not verify:
            self.context.check_hostname = False
        if cert_file:
            self.context.load_cert_chain(cert_file, key_file)

    def request(self, method: str, path: str, body: dict = None, timeout: float = 10.0):
        """(HTTP status, decoded JSON or text) of one request."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=timeout) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode(errors="replace")
        except (OSError, ssl.SSLError) as e:  # URLError is an OSError; its reason says what failed
            raise Unreachable(f"cannot reach {self.server}: {getattr(e, 'reason', e)}") from None
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path: str):
        """The object at ``path``, or None when it does not exist."""
        status, body = self.request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise MinipodError(f"GET {path}: {status} {_message(body)}")
        return body

    def ensure(self, path: str, obj: dict) -> bool:
        """POST ``obj`` to the collection ``path`` unless it exists; True if made."""
        status, body = self.request("POST", path, obj)
        if status == 409:
            return False
        if status not in (200, 201):
            raise MinipodError(f"creating {obj['kind']} {obj['metadata']['name']}: {status} {_message(body)}")
        return True

    def wait_ok(self, path: str, timeout: float, what: str, alive=None) -> None:
        """Until GET ``path`` answers 200 (``alive()`` False: give up at once)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                status, body = self.request("GET", path, timeout=5)
                if status == 200:
                    return
                last = f"{status} {_message(body)}"
            except Unreachable as e:
                last = str(e)
            if alive is not None and not alive():
                break
            time.sleep(0.2)
        raise MinipodError(f"{what} did not become ready ({last or 'no answer'})")


def _message(body) -> str:
    return body.get("message", "") if isinstance(body, dict) else str(body)[:200]
