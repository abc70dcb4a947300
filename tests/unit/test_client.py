"""The thin client's own reading of paths and verbs (minipod.node.client cannot
import minipod.paths: it computes them again, and must agree)."""

import pytest

from minipod.node import client
from minipod.roles import agent

ENVIRONMENTS = [{}, {"MINIPOD_ROOT": "/tmp/r"}, {"MINIPOD_ROOT": "/tmp/r", "MINIPOD_RUN_ROOT": "/tmp/run2"},
                {"MINIPOD_RUN_ROOT": "/srv/run"}, {"MINIPOD_LIB_ROOT": "/srv/lib"}]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_clients_socket_path_is_the_agents(env, monkeypatch):
    for name in ("MINIPOD_ROOT", "MINIPOD_RUN_ROOT", "MINIPOD_LIB_ROOT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert client.socket_path(env) == str(agent.socket_path())


@pytest.mark.parametrize("argv,words", [
    (["run", "--rm", "busybox"], ("run",)),
    (["--cni-conf-dir", "/x", "pod", "create", "-p", "1:2"], ("pod", "create")),
    (["--help"], ()),
    (["ps", "-a"], ("ps",)),
    (["pod", "--help", "ls"], ("pod",)),
])
def test_verbs_past_the_groups_options(argv, words):
    assert client.verb(argv)[:len(words)] == words
