"""Image references as docker, podman and containerd read them
(github.com/distribution/reference): ``[registry/]path[:tag][@digest]``.

A short name is normalised as docker does it: ``busybox`` is
``docker.io/library/busybox:latest``, ``me/app`` is
``docker.io/me/app:latest``; the first component is a registry only when
it has a dot or a port or is ``localhost``. Normalising names no registry
to ask: minipod looks images up by the normalised reference and pulls only
one that names its registry (image/pull.py). Pure: no I/O."""

import re
from typing import NamedTuple

from minipod.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME = 255  # the grammar's limit on the name (registry and path)

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
                        r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
                        r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?$")
_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")


class Reference(NamedTuple):
    domain: str
    path: str
    tag: str  # "" when only a digest names it
    digest: str  # "" unless given

    @property
    def repository(self) -> str:
        """registry/path: docker's REPOSITORY, in full."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse(ref: str) -> Reference:
    """The normalised reference ``ref`` names (a tag of latest when it
    gives neither tag nor digest); InvalidArgument as docker words it."""
    m = _REFERENCE.match(ref or "")
    if not m or len(m.group("name")) > MAX_NAME:
        why = "repository name must be lowercase" if ref and ref.lower() != ref and \
            _REFERENCE.match(ref.lower()) else "invalid reference format"
        raise InvalidArgument(f"{ref!r}: {why} (an image is [registry/]repository[:tag][@sha256:digest])")
    name, tag, digest = m.group("name"), m.group("tag") or "", m.group("digest") or ""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def normalize(ref: str) -> str:
    """``busybox`` -> ``docker.io/library/busybox:latest``."""
    return str(parse(ref))


def familiar(ref: str) -> str:
    """The short form docker prints: ``docker.io/library/busybox:latest`` ->
    ``busybox:latest``, ``docker.io/me/app:v1`` -> ``me/app:v1``; other
    registries in full."""
    r = parse(ref)
    return str(r._replace(domain="", path=familiar_path(r)))[1:]


def familiar_path(r: Reference) -> str:
    """The repository as docker's REPOSITORY column shows it."""
    if r.domain != DEFAULT_DOMAIN:
        return r.repository
    return r.path[len(OFFICIAL_PREFIX):] if r.path.startswith(OFFICIAL_PREFIX) else r.path


def is_id(ref: str) -> bool:
    """An image id or a prefix of one (12 hex digits at least), as docker takes them."""
    return bool(_ID.match(ref or ""))
