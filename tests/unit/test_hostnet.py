"""What the host uses, read from its files: resolvers, /etc/hosts, proxy
variables, open TCP connections; and a range that contains any of them is
never free."""

import ipaddress

from minipod import hostnet

RESOLV = """# comment
search example.internal
nameserver 10.255.255.53
nameserver fe80::1%eth0
options ndots:2
"""

HOSTS = """127.0.0.1 localhost
::1 localhost ip6-localhost
198.51.100.80 deb.debian.org   # the mirror
not-an-address name
"""

# /proc/net/tcp: one established connection to 198.51.100.80:80, one listening socket.
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0200000A:C350 506433C6:0050 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
"""


def test_resolvers_hosts_proxies_and_peers_are_read_from_their_files():
    assert hostnet.resolvers(RESOLV) == [ipaddress.ip_address("10.255.255.53"), ipaddress.ip_address("fe80::1")]
    assert (ipaddress.ip_address("198.51.100.80"), "deb.debian.org") in hostnet.hosts_entries(HOSTS)
    assert len(hostnet.hosts_entries(HOSTS)) == 3
    assert hostnet.proxies({"https_proxy": "http://192.0.2.9:3128", "http_proxy": "proxy.example:8080",
                            "ALL_PROXY": "socks5://[2001:db8::5]:1080"}) == \
        [(ipaddress.ip_address("192.0.2.9"), "https_proxy"), (ipaddress.ip_address("2001:db8::5"), "ALL_PROXY")]
    assert hostnet.tcp_peers(TCP) == [ipaddress.ip_address("198.51.100.80")]


def test_a_range_with_a_destination_the_host_uses_is_not_free(monkeypatch):
    monkeypatch.setattr(hostnet, "used_destinations",
                        lambda: [(ipaddress.ip_address("198.51.100.80"), "deb.debian.org in /etc/hosts")])
    monkeypatch.setattr("minipod.hostnet.host_routes",
                        lambda: [(ipaddress.ip_network("192.0.2.0/24"), "eth0"),
                                 (ipaddress.ip_network("198.18.0.0/24"), "mptsvc0")])
    assert hostnet.conflicts("198.51.100.0/24") == ["the host uses 198.51.100.80 (deb.debian.org in /etc/hosts)"]
    assert hostnet.conflicts("198.51.100.128/25") == []
    assert hostnet.conflicts("192.0.2.128/25") == ["the host routes 192.0.2.0/24 through eth0"]
    # a route through the caller's own device is its own, not the host's
    assert hostnet.conflicts("198.18.0.0/24", own_devices=("mptsvc0",)) == []
    assert hostnet.conflicts("198.18.0.0/24") == ["the host routes 198.18.0.0/24 through mptsvc0"]


def test_a_destination_reached_through_the_callers_own_device_is_its_own(monkeypatch):
    """A host's connection to a ClusterIP (DNATed to a pod) shows that ClusterIP as its peer: the proxy
    setting up again must not take its own range for the host's."""
    monkeypatch.setattr(hostnet, "used_destinations",
                        lambda: [(ipaddress.ip_address("10.96.0.11"), "a peer of an open TCP connection")])
    monkeypatch.setattr("minipod.hostnet.host_routes", lambda: [(ipaddress.ip_network("10.96.0.0/12"), "kube-svc0")])
    assert hostnet.conflicts("10.96.0.0/12", own_devices=("kube-svc0",)) == []
    assert hostnet.conflicts("10.96.0.0/12", own_devices=("other0",)) == [
        "the host routes 10.96.0.0/12 through kube-svc0", "the host uses 10.96.0.11 (a peer of an open TCP connection)"]

