"""`minipod trace`: one real connection (or datagram), made from a pod, the
host or a client outside the node, followed through every hop and rule
the kernel took it through, as the kernel itself reports it:

  - nftables tracing (`meta nftrace set 1`, read by `nft monitor trace`):
    every netfilter rule that matched, table and chain, with its verdict:
    iptables-nft's rules are nftables rules, so one mechanism serves both of
    the service proxy's modes; the trace rule matches only the tracer's own
    flow (its source port, chosen for it) and goes when the trace ends, also
    when it is interrupted (trace/nftrace.py);
  - the conntrack entry the flow made: its original and reply tuples, where
    the DNAT and the SNAT show (trace/flows.py);
  - `ip route get` for each hop, and the endpoint that answered (a pod).

Destinations are only this node's: a pod's address, a virtual IP the node
routes locally (a ClusterIP, a LoadBalancer IP), a node port, `svc/NAME[.NS]`
or `http://HOST/PATH` through the ingress. Anything else is refused.

  targets.py  what DEST and --from mean, and the refusals
  nftrace.py  the trace table, `nft monitor trace`, its lines parsed
  probe.py    the connection, from inside a network namespace
  flows.py    conntrack and routes
  report.py   the path as text or JSON
"""


def lock_path():
    """Held while a trace runs: one at a time, and `minipod gc` knows a live
    one's table and outside client from what a killed one left."""
    from minipod import paths
    return paths.run_root() / "trace.lock"
