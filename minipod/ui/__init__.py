"""`minipod ui`: the node, live, in a browser.

A page on 127.0.0.1 (never another address) with the picture of the node
the course's slides draw (picture.py: host, uplink, bridge, each pod with
its veth pair, address, pause and containers, Services with their ClusterIP
and node ports and arrows to their endpoints, the Ingress hosts and paths),
rendered as SVG on the server and replaced in the page as the node changes
(server-sent events: pods that come, crash, restart and go). Clicking a
Service, or typing a destination, runs `minipod trace` and draws the
packet's way on the picture, with the rules it hit beside it; where a
NetworkPolicy refused it, the pod whose rule refused it is drawn in red with
that rule's words. Below, a namespace's reachability matrix (who may talk to
whom, from the rules and from real probes).

Only whoever holds the page's token gets in (as `jupyter notebook` does):
it is made at start, printed with the URL, and kept in a cookie by the
browser; every request without it is 401. The page is plain HTML and
JavaScript served by the server (server.py): nothing is built or fetched.
"""
