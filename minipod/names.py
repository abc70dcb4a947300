"""Names and ids: validation before any path is built, and generation."""

import os
import re

from minipod.errors import InvalidArgument

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME = 63

_ADJECTIVES = ("brave", "calm", "eager", "fond", "gentle", "happy", "keen",
               "lucid", "merry", "nimble", "proud", "quiet", "sharp", "tidy",
               "vivid", "wise", "zesty", "bold", "cool", "jolly")
_NOUNS = ("lovelace", "turing", "hopper", "ritchie", "thompson", "torvalds",
          "knuth", "dijkstra", "liskov", "hamilton", "kay", "pike", "cerf",
          "kahn", "perlman", "bell", "wozniak", "allen", "curie", "noether")


def validate_name(name: str, kind: str = "name") -> str:
    """Return ``name`` if it is a safe object name, else raise InvalidArgument."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or len(name) > MAX_NAME:
        raise InvalidArgument(
            f"invalid {kind} {name!r}: use [A-Za-z0-9][A-Za-z0-9_.-]*, at most {MAX_NAME} characters")
    return name


def new_id() -> str:
    """A fresh 64-hex-digit id, like docker's."""
    return os.urandom(32).hex()


def generate_name() -> str:
    """A readable random name such as ``keen_hopper_3f2a``."""
    raw = os.urandom(4)
    return f"{_ADJECTIVES[raw[0] % len(_ADJECTIVES)]}_{_NOUNS[raw[1] % len(_NOUNS)]}_{raw[2:].hex()}"


# Kubernetes label syntax: a key is an optional DNS-subdomain prefix and "/"
# then a name of at most 63 characters; a value is such a name or empty.
_LABEL_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_LABEL_KEY_RE = re.compile(rf"(?:[a-z0-9](?:[a-z0-9.-]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}")
_LABEL_VALUE_RE = re.compile(rf"(?:{_LABEL_NAME})?")


def valid_label_key(key) -> bool:
    return isinstance(key, str) and bool(_LABEL_KEY_RE.fullmatch(key))


def valid_label_value(value) -> bool:
    return isinstance(value, str) and bool(_LABEL_VALUE_RE.fullmatch(value))
