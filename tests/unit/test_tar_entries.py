"""Tar entry checks, without touching the file system."""

import tarfile

import pytest

from minipod.image import tarsafe
from minipod.errors import UnsafeArchive


@pytest.mark.parametrize("name,parts", [
    ("bin/sh", ["bin", "sh"]), ("./bin/sh", ["bin", "sh"]), ("bin//sh/", ["bin", "sh"]),
    (".", []), ("a/./b", ["a", "b"]), ("..foo/bar..", ["..foo", "bar.."]),
])
def test_safe_names(name, parts):
    assert tarsafe.split_name(name) == parts


@pytest.mark.parametrize("name,reason", [
    ("/etc/passwd", "absolute"), ("../x", r"'\.\.'"), ("a/../../x", r"'\.\.'"),
    ("a/..", r"'\.\.'"), ("a\0b", "NUL"),
])
def test_unsafe_names_are_refused_with_the_entry_named(name, reason):
    with pytest.raises(UnsafeArchive, match=reason) as e:
        tarsafe.split_name(name)
    assert repr(name) in str(e.value)


@pytest.mark.parametrize("kind,expected", [
    (tarfile.DIRTYPE, "dir"), (tarfile.REGTYPE, "file"), (tarfile.SYMTYPE, "symlink"),
    (tarfile.LNKTYPE, "hardlink"), (tarfile.CHRTYPE, "skip"), (tarfile.BLKTYPE, "skip"),
    (tarfile.FIFOTYPE, "skip"),
])
def test_classify(kind, expected):
    info = tarfile.TarInfo("x")
    info.type = kind
    assert tarsafe.classify(info) == expected
