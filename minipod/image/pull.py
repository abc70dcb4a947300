"""`minipod pull`: fetch an image through skopeo (the containers/image
library podman uses) into an OCI archive, then import it like any other.

Registries, auth files and TLS settings are skopeo's; minipod passes them
through. A short name (`busybox`) is never resolved against a public
registry: minipod has no default registry, so a reference pulls only when
it names its registry (`localhost:5000/web:v2`, `registry.example/x`).
"""

import os
import re
import shutil
import subprocess

from minipod import paths
from minipod.errors import InvalidArgument, MinipodError, NotFound

PULL_TIMEOUT = 1800  # seconds: a large image on a slow link, but never forever
_REGISTRY_RE = re.compile(r"^(?:docker://)?(?P<host>[^/]+\.[^/]+|[^/]+:[0-9]+|localhost)/(?P<path>.+)$")


def names_registry(ref: str) -> bool:
    """True when ``ref`` names its registry (host with a dot or a port, or
    localhost), so pulling it cannot ask a public registry by accident."""
    return bool(_REGISTRY_RE.match(ref))


def _skopeo_error(stderr: str) -> str:
    """skopeo's last message, without its log-line decoration."""
    lines = [re.sub(r'^time="[^"]*" level=\w+ msg="?', "", l.strip()).rstrip('"').replace('\\"', '"')
             for l in stderr.splitlines() if l.strip()]
    return lines[-1] if lines else "skopeo failed"


def pull(ref: str, name=None, tls_verify=True, authfile=None, warn=print, progress=None) -> dict:
    """Copy ``ref`` from its registry and import it, named by ``ref`` (and
    ``name`` instead, if given). Nothing remains on failure."""
    from minipod import image
    if not isinstance(ref, str) or not ref or len(ref) > 1024 or any(c in ref for c in " \t\n\0"):
        raise InvalidArgument(f"invalid image reference {str(ref)[:80]!r}")
    if not names_registry(ref):
        raise InvalidArgument(f"{ref!r} names no registry: minipod has no default registry; "
                              "use e.g. localhost:5000/NAME[:TAG], or `minipod image import`")
    local = image.normalize(name or ref.removeprefix("docker://"))
    if shutil.which("skopeo") is None:
        raise MinipodError("skopeo is not installed (apt-get install skopeo); it fetches images")
    if authfile and not os.path.isfile(authfile):
        raise InvalidArgument(f"auth file {authfile!r} does not exist")
    tmpdir = paths.lib_root() / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    target = tmpdir / f"pull-{os.getpid()}-{os.urandom(4).hex()}.tar"
    src = ref if ref.startswith("docker://") else "docker://" + ref
    # On a terminal (``progress`` given) skopeo's own per-blob progress is
    # shown on stderr; otherwise it is quiet. Its errors are always kept.
    cmd = ["skopeo", "copy"] + ([] if progress else ["--quiet"]) + \
        [f"--src-tls-verify={'true' if tls_verify else 'false'}"]
    if authfile:
        cmd += ["--src-authfile", authfile]
    cmd += [src, f"oci-archive:{target}"]
    try:
        try:
            proc = subprocess.run(cmd, stdout=2 if progress else subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, timeout=PULL_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise MinipodError(f"pull {ref}: skopeo did not finish in {PULL_TIMEOUT} s") from None
        if proc.returncode != 0:
            why = _skopeo_error(proc.stderr)
            kind = NotFound if ("manifest unknown" in why or "not found" in why) else MinipodError
            raise kind(f"pull {ref}: {why}")
        return image.import_archive(str(target), local, warn=warn, progress=progress)
    finally:
        try:
            os.unlink(target)
        except FileNotFoundError:
            pass
