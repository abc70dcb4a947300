"""The controller manager's role on this node: Deployments kept at their
replica count (deployments.py) and Endpoints kept in step with the ready
pods that Services select (endpoints.py). The agent runs them."""
