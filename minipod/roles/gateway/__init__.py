"""The Gateway API controller (GatewayClass, Gateway, HTTPRoute,
ReferenceGrant) on the nginx the ingress controller runs.

One nginx Pod per Gateway (``NAME-CLASS``, GEP-1762's naming) behind a
Service of type LoadBalancer whose pool address is the Gateway's address:
a Gateway is a load balancer of its own on a cluster, and one nginx each
keeps one Gateway's bad configuration from touching another's. The routes
are nginx maps a learner can read, one per match condition, and one per
listener port picking the first match in the specification's precedence;
each match has an internal location with its rule's filters and a
weighted upstream of its backends' endpoints.

    hostnames.py   listener and route hostnames: matching, intersection
    attach.py      which listeners a route's parentRefs attach it to, and why not
    backends.py    backendRefs to endpoints; ReferenceGrants
    precedence.py  the order in which matches are tried
    render.py      nginx.conf of one Gateway
    status.py      the conditions of the three kinds
    controller.py  the agent's step: pods, Services, configuration, status
"""

CONTROLLER_NAME = "minipod.dev/gateway-controller"
GROUP = "gateway.networking.k8s.io"
