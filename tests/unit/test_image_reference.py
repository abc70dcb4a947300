"""Image references as docker normalises them (distribution/reference)."""

import pytest

from minipod.errors import InvalidArgument
from minipod.image import reference


@pytest.mark.parametrize("given, normal, short", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("me/app:v1", "docker.io/me/app:v1", "me/app:v1"),
    ("registry.k8s.io/e2e-test-images/busybox:1.29-2", "registry.k8s.io/e2e-test-images/busybox:1.29-2",
     "registry.k8s.io/e2e-test-images/busybox:1.29-2"),
    ("localhost/fromdocker:v1", "localhost/fromdocker:v1", "localhost/fromdocker:v1"),
    ("localhost:5000/web", "localhost:5000/web:latest", "localhost:5000/web:latest"),
    ("127.0.0.1:5000/a/b_c__d-e.f:TAG_1.x", "127.0.0.1:5000/a/b_c__d-e.f:TAG_1.x",
     "127.0.0.1:5000/a/b_c__d-e.f:TAG_1.x"),
    ("web@sha256:" + "a" * 64, "docker.io/library/web@sha256:" + "a" * 64, "web@sha256:" + "a" * 64),
    ("web:v2@sha256:" + "b" * 64, "docker.io/library/web:v2@sha256:" + "b" * 64, "web:v2@sha256:" + "b" * 64),
])
def test_normalised_as_docker_does(given, normal, short):
    assert reference.normalize(given) == normal
    assert reference.familiar(given) == short
    assert reference.normalize(normal) == normal  # idempotent


@pytest.mark.parametrize("bad, why", [
    ("Busybox", "must be lowercase"), ("", "invalid reference format"), ("a b", "invalid reference format"),
    ("web:", "invalid reference format"), ("web:-x", "invalid reference format"), ("/web", "invalid reference"),
    ("web//x", "invalid reference"), ("web@sha256:xyz", "invalid reference"), ("a" * 256, "invalid reference"),
    ("web:" + "t" * 129, "invalid reference"),
])
def test_bad_references_say_why(bad, why):
    with pytest.raises(InvalidArgument, match=why):
        reference.parse(bad)


def test_ids_and_prefixes():
    assert reference.is_id("9e7d375de475") and reference.is_id("sha256:" + "9" * 64)
    assert not reference.is_id("busybox") and not reference.is_id("9e7d37")  # too short to be one
