"""Property-based tests of every pure parser and checker user input reaches.

The property is the CLI's promise: any input is either accepted or refused
with a MinipodError (one line, exit 125), never another exception, which
the CLI could only report as "internal error". Where an accepted value has
a shape to keep (a port in range, a name that is safe as a path), that is
checked too. Bounded: see the "minipod" profile in tests/conftest.py.
"""

import io
import ipaddress
import json
import os
import string
import tarfile
import tempfile

from hypothesis import assume, given
from hypothesis import strategies as st

from minipod import etcfiles, hostnet, names, spec
from minipod.cni import network
from minipod.image import tarsafe
from minipod.cni import config as cni_config
from minipod.errors import MinipodError
from minipod.runtime import caps

# Text as it reaches argv: any code point but NUL (argv cannot hold one) and
# lone surrogates (what click makes of undecodable bytes is
# surrogate-escaped, i.e. \udc80-\udcff, included separately).
ARGV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=80) | \
    st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"").decode("utf-8", "surrogateescape"))
# Text shaped like the values these parsers expect, so generation gets deep.
NUMBERISH = st.text(alphabet=string.digits + "-+.:/[]abcdefxTCPUDP ²٣\n\t", max_size=30)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)


def refused_or(call, *args):
    """call(*args), or None when it refuses with a MinipodError."""
    try:
        return call(*args)
    except MinipodError as e:
        assert str(e)  # a message to show; the CLI folds it onto one line
        return None


@given(ARGV_TEXT | NUMBERISH)
def test_port_specs(text):
    port = refused_or(spec.parse_port, text)
    if port is not None:
        assert 1 <= port.host_port <= 65535 and 1 <= port.container_port <= 65535
        assert port.protocol in ("tcp", "udp", "sctp")
        ip = f"[{port.host_ip}]:" if ":" in port.host_ip else (f"{port.host_ip}:" if port.host_ip else "")
        assert spec.parse_port(f"{ip}{port.host_port}:{port.container_port}/{port.protocol}") == port


@given(st.lists(ARGV_TEXT | NUMBERISH, max_size=4))
def test_port_lists(specs):
    refused_or(spec.parse_ports, specs)


@given(st.lists(ARGV_TEXT, max_size=4))
def test_env_items(items):
    env = refused_or(spec.parse_env, items)
    if env is not None:
        for key in env:
            assert key and "=" not in key and "\n" not in key and key.isascii()


@given(st.none() | ARGV_TEXT | NUMBERISH)
def test_users(text):
    user = refused_or(spec.parse_user, text)
    if user is not None:
        uid, gid = user
        assert 0 <= uid <= spec.MAX_ID and 0 <= gid <= spec.MAX_ID


@given(ARGV_TEXT | NUMBERISH | st.integers())
def test_signals(value):
    number = refused_or(spec.parse_signal, value)
    if number is not None:
        assert 0 < number < 65


@given(ARGV_TEXT | NUMBERISH)
def test_subnets_and_gateways(text):
    net = refused_or(spec.parse_subnet, text)
    if net is not None:
        assert net.version == 4 and net.prefixlen <= 30
        gw = refused_or(spec.parse_gateway, text.split("/")[0], net)
        assert gw is None or gw in net


@given(ARGV_TEXT | NUMBERISH)
def test_timeouts(text):
    value = refused_or(spec.parse_timeout, text)
    if value is not None:
        assert 0 <= value < float("inf")


@given(ARGV_TEXT)
def test_names(text):
    name = refused_or(names.validate_name, text)
    if name is not None:
        # Safe as one path component, printable, and no longer than a hostname.
        assert "/" not in name and name not in (".", "..") and len(name) <= names.MAX_NAME
        assert name.isascii() and name.isprintable()


def test_generated_names_and_ids_are_valid():
    for _ in range(200):
        assert names.validate_name(names.generate_name())
        ident = names.new_id()
        assert len(ident) == 64 and set(ident) <= set(string.hexdigits.lower())


@given(st.lists(ARGV_TEXT, max_size=3), st.lists(ARGV_TEXT, max_size=3), st.booleans())
def test_capability_names(add, drop, privileged):
    refused_or(caps.effective_set, add, drop, privileged)


# ------------------------------------------------------------------ archives

TAR_NAMES = ARGV_TEXT | st.lists(st.sampled_from(["a", "..", ".", "", "b" * 300, "etc", "/"]),
                                 max_size=300).map("/".join)


@given(TAR_NAMES)
def test_tar_entry_names(name):
    parts = refused_or(tarsafe.split_name, name)
    if parts is not None:
        assert ".." not in parts and not name.startswith("/")
        assert len(parts) <= tarsafe.MAX_DEPTH and all(parts)


@given(TAR_NAMES, TAR_NAMES, st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                                             tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE]),
       st.integers(-2**70, 2**70), st.integers(-2**70, 2**70),
       st.floats() | st.integers(-2**80, 2**80))
def test_tar_members(name, linkname, kind, uid, gid, mtime):
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.uid, member.gid, member.mtime = kind, linkname, uid, gid, mtime
    if refused_or(tarsafe.check_member, member) is not None:
        assert 0 <= member.uid <= tarsafe.MAX_ID
    assert 0 <= tarsafe.mtime_ns(member) <= tarsafe.MAX_MTIME * 10**9
    assert tarsafe.classify(member) in ("dir", "file", "symlink", "hardlink", "skip")


MEMBER = st.tuples(TAR_NAMES, st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                                                tarfile.LNKTYPE]), TAR_NAMES)


@given(st.lists(MEMBER, min_size=1, max_size=6))
def test_archives_extract_inside_the_root_or_are_refused(members):
    """Real extraction of generated archives (symlinks planted, then written
    through; links to anywhere): refused with a MinipodError or extracted,
    and never a byte outside the root."""
    with tempfile.TemporaryDirectory() as top:
        archive, root, outside = f"{top}/a.tar", f"{top}/root", f"{top}/outside"
        os.mkdir(root)
        os.mkdir(outside)
        with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
            for name, kind, link in members:
                info = tarfile.TarInfo(name)
                info.type, info.linkname, info.uid, info.gid = kind, link, os.getuid(), os.getgid()
                data = b"x" if kind == tarfile.REGTYPE else b""
                info.size = len(data)
                try:
                    tar.addfile(info, io.BytesIO(data))
                except (ValueError, UnicodeError):
                    assume(False)  # not writable as a tar at all
        refused_or(tarsafe.extract, archive, root)
        assert os.listdir(outside) == [] and sorted(os.listdir(top)) == ["a.tar", "outside", "root"]


# -------------------------------------------------------------------- CNI

@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_conflist_parsing(data):
    conf = refused_or(cni_config.parse_conflist, data, "x.conflist")
    if conf is not None:
        assert isinstance(conf["name"], str) and conf["plugins"]


PLUGIN = st.fixed_dictionaries({"type": st.sampled_from(["bridge", "portmap", "x\0y", "../x", "", "host-local"])},
                               optional={"capabilities": JSON, "ipam": JSON, "bridge": JSON,
                                         "runtimeConfig": JSON})
CONFLIST = st.fixed_dictionaries({"name": st.text(max_size=5) | JSON, "plugins": st.lists(PLUGIN, max_size=3) | JSON},
                                 optional={"cniVersion": st.sampled_from(["1.0.0", "0.4.0", "9", ""]) | JSON,
                                           "cniVersions": JSON})


@given(CONFLIST)
def test_conflist_shapes(conf):
    data = json.dumps(conf).encode()
    parsed = refused_or(cni_config.parse_conflist, data, "x.conflist")
    # What network listing reads of any conflist in the config dirs
    # (podman's, a user's) must never fail, parsed or not.
    for s in network.subnets_of(conf):
        assert isinstance(s, ipaddress.IPv4Network | ipaddress.IPv6Network)
    network.gateway_of(conf)
    network.bridge_of(conf)
    if parsed is not None:
        version = cni_config.pick_version(parsed)
        for plugin in parsed["plugins"]:
            built = json.loads(cni_config.build_plugin_config(parsed, plugin, version,
                                                              {"portMappings": [{"hostPort": 1}]}))
            assert built["name"] == parsed["name"] and "capabilities" not in built


@given(JSON | st.fixed_dictionaries({}, optional={"ips": JSON | st.lists(JSON, max_size=3),
                                                  "interfaces": JSON | st.lists(JSON, max_size=3)}))
def test_results(result):
    address, mac, gateway = cni_config.result_ip(result)
    assert address is None or isinstance(address, str)


@given(st.text(max_size=300))
def test_route_tables(text):
    for net, dev in hostnet.parse_route_table(text):
        assert net.prefixlen > 0 and dev


def test_route_table_of_a_host():
    text = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
            "minipod0\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
            "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
    assert hostnet.parse_route_table(text) == [(ipaddress.ip_network("10.244.0.0/16"), "minipod0"),
                                               (ipaddress.ip_network("192.0.2.0/24"), "eth0")]


# ------------------------------------------------------------ pod /etc files

@given(st.text(max_size=63), st.none() | st.text(max_size=20), st.text(max_size=300))
def test_etc_files_are_whole_lines(hostname, ip, resolv):
    assume("\n" not in hostname)
    hosts = etcfiles.hosts(hostname, ip)
    assert hosts.endswith("\n") and not hosts.endswith("\n\n")
    out = etcfiles.resolv_conf(resolv)
    assert out == "" or out.endswith("\n")
