"""CNI config building (libcni's buildOneConfig/injectRuntimeConfig), pure."""

import json

import pytest

from minipod import etcfiles
from minipod.cni import config
from minipod.errors import CNIError

CONFLIST = {
    "cniVersion": "1.0.0", "name": "net1",
    "plugins": [
        {"type": "bridge", "bridge": "br0", "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}, "custom": {"x": 1}},
    ],
}
PORTS = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]


def test_first_plugin_gets_name_version_and_no_prev_result():
    conf = json.loads(config.build_plugin_config(CONFLIST, CONFLIST["plugins"][0], "1.0.0",
                                                 {"portMappings": PORTS}))
    assert conf["name"] == "net1" and conf["cniVersion"] == "1.0.0"
    assert "prevResult" not in conf
    assert "runtimeConfig" not in conf  # bridge declares no capabilities
    assert conf["ipam"] == {"type": "host-local"}


def test_runtime_config_is_declared_capabilities_only():
    prev = {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}
    conf = json.loads(config.build_plugin_config(CONFLIST, CONFLIST["plugins"][1], "1.0.0",
                                                 {"portMappings": PORTS, "bandwidth": {"a": 1}}, prev))
    assert conf["runtimeConfig"] == {"portMappings": PORTS}
    assert "capabilities" not in conf
    assert conf["prevResult"] == prev
    assert conf["snat"] is True


def test_unknown_keys_pass_through_and_plugin_dict_is_not_mutated():
    plugin = CONFLIST["plugins"][2]
    before = json.dumps(plugin, sort_keys=True)
    conf = json.loads(config.build_plugin_config(CONFLIST, plugin, "1.0.0", {}))
    assert conf["custom"] == {"x": 1}
    assert json.dumps(plugin, sort_keys=True) == before


def test_version_selection():
    assert config.pick_version({"name": "n", "cniVersion": "0.4.0"}) == "0.4.0"
    assert config.pick_version({"name": "n", "cniVersion": "1.0.0",
                                "cniVersions": ["0.4.0", "1.1.0", "9.9.9"]}) == "1.1.0"
    with pytest.raises(CNIError):
        config.pick_version({"name": "n", "cniVersion": "7.0.0"})
    with pytest.raises(CNIError):
        config.pick_version({"name": "n", "cniVersions": ["7.0.0"]})


@pytest.mark.parametrize("data", [b"{", b"[]", b'{"name": "x"}', b'{"name": "x", "plugins": []}',
                                  b'{"name": "x", "cniVersion": "1.0.0", "plugins": [{}]}',
                                  b'{"name": "x", "cniVersion": "1.0.0", "plugins": [{"type": "../bin/sh"}]}'])
def test_broken_conflists_are_refused_with_the_file_named(data):
    with pytest.raises(CNIError, match="/etc/x.conflist"):
        config.parse_conflist(data, "/etc/x.conflist")


def test_cni_args_carry_pod_identity():
    args = config.cni_args("web", "abc")
    assert args.split(";") == ["IgnoreUnknown=1", "K8S_POD_NAMESPACE=minipod", "K8S_POD_NAME=web",
                               "K8S_POD_INFRA_CONTAINER_ID=abc"]


def test_result_ip():
    result = {"interfaces": [{"name": "br0"}, {"name": "eth0", "mac": "aa:bb", "sandbox": "/x"}],
              "ips": [{"address": "fd00::2/64", "interface": 1}, {"address": "10.0.0.2/24", "interface": 1,
                                                                   "gateway": "10.0.0.1"}]}
    assert config.result_ip(result) == ("10.0.0.2/24", "aa:bb", "10.0.0.1")
    assert config.result_ip({}) == (None, None, None)


def test_default_conflist_is_a_valid_docker0_like_chain():
    conf = config.default_conflist("minipod", "minipod0", "10.244.0.0/16", "10.244.0.1", "/d")
    parsed = config.parse_conflist(json.dumps(conf).encode())
    bridge, portmap, firewall = parsed["plugins"]
    assert bridge["isGateway"] and bridge["isDefaultGateway"] and bridge["ipMasq"] and bridge["hairpinMode"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/16", "gateway": "10.244.0.1"}]]
    assert portmap["capabilities"] == {"portMappings": True} and portmap["snat"]
    assert firewall["type"] == "firewall"


def test_resolv_conf_drops_loopback_resolvers():
    host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.org\nnameserver ::1\n"
    assert etcfiles.resolv_conf(host) == "nameserver 10.0.0.2\nsearch example.org\n"
    assert etcfiles.resolv_conf("nameserver 127.0.0.53\n") == ""


def test_hosts_names_the_pod():
    assert "10.0.0.5\tweb" in etcfiles.hosts("web", "10.0.0.5/24")
    assert "127.0.1.1\tweb" in etcfiles.hosts("web", None)


def test_version_negotiation_across_plugins():
    versions = {"bridge": ["0.3.1", "0.4.0", "1.0.0"], "old": ["0.3.0", "0.3.1"], "new": ["1.0.0", "1.1.0"]}
    conf = {"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}
    assert config.choose_version(conf, versions.get) == "1.0.0"
    conf_11 = {"name": "n", "cniVersions": ["0.4.0", "1.0.0", "1.1.0"], "plugins": [{"type": "new"}]}
    assert config.choose_version(conf_11, versions.get) == "1.1.0"
    conf_11["plugins"].append({"type": "bridge"})
    assert config.choose_version(conf_11, versions.get) == "1.0.0"
    with pytest.raises(CNIError, match="CNI plugin old supports versions 0.3.0, 0.3.1, not 1.0.0"):
        config.choose_version({"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": "old"}]}, versions.get)
