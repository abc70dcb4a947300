"""The image config rules (docker's) and archive manifests: pure, no root."""

import io
import json
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipod.errors import MinipodError
from minipod.image import archive, config, pull

from tests.unit.test_properties import JSON


def test_command_follows_dockers_rules():
    cfg = {"Entrypoint": ["/bin/echo", "e:"], "Cmd": ["default"]}
    assert config.command(cfg) == ["/bin/echo", "e:", "default"]
    assert config.command(cfg, cmd=["given"]) == ["/bin/echo", "e:", "given"]
    assert config.command(cfg, entrypoint="sh", cmd=["-c", "x"]) == ["sh", "-c", "x"]
    assert config.command(cfg, entrypoint="sh") == ["sh"]  # --entrypoint drops the image's Cmd
    assert config.command({"Cmd": ["nginx", "-g", "daemon off;"]}) == ["nginx", "-g", "daemon off;"]
    assert config.command({}, cmd=["ls"]) == ["ls"] and config.command({}) == ["sh"]
    assert config.command(cfg, entrypoint="", cmd=["ls"]) == ["ls"]


def test_env_users_and_chain_ids():
    assert config.env({"Env": ["A=1", "B=x=y", "A=2", "junk"]}) == {"A": "2", "B": "x=y"}
    passwd = "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n"
    assert config.parse_passwd(passwd, "www-data") == (33, 33) and config.parse_passwd(passwd, "x") is None
    assert config.parse_group("root:x:0:\nstaff:x:50:\n", "staff") == 50
    ids = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    chains = config.chain_ids(ids)
    assert chains[0] == ids[0] and chains[1] != ids[1] and chains[1].startswith("sha256:")
    assert config.chain_ids(ids[:1]) == chains[:1]  # a shared base has the same chain id


@pytest.mark.parametrize("doc", [[], {"config": "x"}, {"config": {"Cmd": 5}},
                                 {"config": {"Env": [1]}}, {"config": {"Labels": "x"}},
                                 {"config": {"User": 0}}])
def test_malformed_configs_are_refused(doc):
    with pytest.raises(MinipodError):
        config.from_image_config(doc)


@given(JSON)
def test_any_config_json_is_checked_without_crashing(doc):
    try:
        config.from_image_config(doc)
        config.diff_ids(doc)
    except MinipodError:
        pass


def _tar(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@given(st.sampled_from(["docker", "oci"]), JSON, JSON)
def test_any_manifest_is_refused_cleanly(tmp_path_factory, kind, manifest, cfg):
    files = {"manifest.json": json.dumps(manifest).encode(), "c.json": json.dumps(cfg).encode()} \
        if kind == "docker" else {"oci-layout": b"{}", "index.json": json.dumps(manifest).encode()}
    path = tmp_path_factory.mktemp("a") / "a.tar"
    path.write_bytes(_tar(files))
    try:
        archive.read(str(path))
    except MinipodError:
        pass


def test_registry_references():
    assert pull.names_registry("localhost:5000/web:v2") and pull.names_registry("registry.example/x")
    assert pull.names_registry("localhost/x") and pull.names_registry("docker://127.0.0.1:5000/a/b")
    assert not pull.names_registry("busybox") and not pull.names_registry("library/nginx")


def test_image_users_resolve_in_the_images_own_files():
    passwd = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nweb:x:33:34::/:/bin/false\n"
    group = "root:x:0:\nweb:x:34:\nstaff:x:50:\n"
    assert config.resolve_user("web", passwd, group) == (33, 34)
    assert config.resolve_user("33", passwd, group) == (33, 34)  # its primary group
    assert config.resolve_user("1000", passwd, group) == (1000, 1000)
    assert config.resolve_user("web:staff", passwd, group) == (33, 50)
    assert config.resolve_user("nobody:0", passwd, group) == (65534, 0)
    for bad in ("ghost", "web:ghosts"):
        with pytest.raises(MinipodError, match="is not in the image's"):
            config.resolve_user(bad, passwd, group)
