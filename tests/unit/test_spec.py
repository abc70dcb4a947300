"""Parsing of user input: ports, env, user, signals, subnets."""

import ipaddress
import signal

import pytest

from minipod import names, spec
from minipod.errors import InvalidArgument


@pytest.mark.parametrize("text,expected", [
    ("8080:80", spec.PortMapping(8080, 80, "tcp", "")),
    ("8080:80/udp", spec.PortMapping(8080, 80, "udp", "")),
    ("127.0.0.1:8080:80", spec.PortMapping(8080, 80, "tcp", "127.0.0.1")),
    ("[::1]:53:53/udp", spec.PortMapping(53, 53, "udp", "::1")),
])
def test_parse_port_accepts_docker_forms(text, expected):
    assert spec.parse_port(text) == expected


@pytest.mark.parametrize("text", ["80", "a:80", "0:80", "70000:80", "80:80/icmp", "1.2.3:80:80",
                                  "999.1.1.1:80:80", "80:80:80:80", ""])
def test_parse_port_rejects_malformed(text):
    with pytest.raises(InvalidArgument):
        spec.parse_port(text)


def test_port_to_cni_shape():
    assert spec.parse_port("127.0.0.1:8080:80").to_cni() == {
        "hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}
    assert "hostIP" not in spec.parse_port("8080:80").to_cni()


def test_same_host_port_twice_is_refused():
    with pytest.raises(InvalidArgument, match="twice"):
        spec.parse_ports(["8080:80", "8080:81"])
    assert len(spec.parse_ports(["8080:80", "8080:80/udp"])) == 2


def test_parse_env():
    assert spec.parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in ["A", "=1", "1A=2", "A-B=1"]:
        with pytest.raises(InvalidArgument):
            spec.parse_env([bad])


def test_parse_user():
    assert spec.parse_user(None) == (0, 0)
    assert spec.parse_user("1000") == (1000, 1000)
    assert spec.parse_user("1000:50") == (1000, 50)
    for bad in ["root", "1000:", ":5", "-1"]:
        with pytest.raises(InvalidArgument):
            spec.parse_user(bad)


def test_parse_signal():
    assert spec.parse_signal("TERM") == signal.SIGTERM
    assert spec.parse_signal("sigkill") == signal.SIGKILL
    assert spec.parse_signal("9") == 9
    for bad in ["NOPE", "0", "999", ""]:
        with pytest.raises(InvalidArgument):
            spec.parse_signal(bad)


def test_parse_subnet_and_gateway():
    net = spec.parse_subnet("10.1.0.0/24")
    assert spec.parse_gateway(None, net) == ipaddress.ip_address("10.1.0.1")
    assert spec.parse_gateway("10.1.0.254", net) == ipaddress.ip_address("10.1.0.254")
    for bad in ["10.1.0.1/24", "10.1.0.0/31", "fd00::/64", "nonsense", "10.1.0.0/33"]:
        with pytest.raises(InvalidArgument):
            spec.parse_subnet(bad)
    for bad in ["10.2.0.1", "10.1.0.0", "10.1.0.255", "x"]:
        with pytest.raises(InvalidArgument):
            spec.parse_gateway(bad, net)


def test_names():
    assert names.validate_name("web-1.a_b") == "web-1.a_b"
    for bad in ["", "-x", ".x", "a/b", "a b", "../x", "x" * 64, "ä"]:
        with pytest.raises(InvalidArgument):
            names.validate_name(bad)
    generated = {names.generate_name() for _ in range(50)}
    assert len(generated) == 50 and all(names.NAME_RE.match(n) for n in generated)
    assert len(names.new_id()) == 64
