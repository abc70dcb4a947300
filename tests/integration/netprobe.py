"""Run inside a pod's network namespace (nsenter --net=/proc/<pause>/ns/net
python3 netprobe.py …), with the Python standard library only:

    probe '[["10.231.0.5", 80, "TCP"], ...]'   prints [true, false, ...]:
        whether each connection (TCP) or datagram and its echo (UDP) went
        through, all at once, each given TIMEOUT seconds
    udp-echo 80 81   echoes datagrams on those ports until killed
"""

import json
import selectors
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 1.5


def _tcp(ip, port) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=TIMEOUT):
            return True
    except OSError:  # refused (REJECT's port-unreachable) or timed out
        return False


def _udp(ip, port) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        try:
            s.connect((ip, port))
            s.send(b"probe")
            return s.recv(64) == b"probe"
        except OSError:
            return False


def probe(targets) -> list:
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        return list(pool.map(lambda t: (_tcp if t[2] == "TCP" else _udp)(t[0], t[1]), targets))


def udp_echo(ports) -> None:
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            data, peer = key.fileobj.recvfrom(64)
            key.fileobj.sendto(data, peer)


if __name__ == "__main__":
    if sys.argv[1] == "probe":
        print(json.dumps(probe(json.loads(sys.argv[2]))))
    else:
        udp_echo([int(p) for p in sys.argv[2:]])
