"""Read-only views over the whole node: what a network looks like, with its
pods, ports, Services and routes to other nodes (topology.py: `network
inspect`, `network show`, the trace's hops, the UI's picture)."""
