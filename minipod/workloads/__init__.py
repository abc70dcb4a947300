"""Workloads: what turns Kubernetes objects into running pods and keeps
them running — the kubelet's part (pods.py, restarts.py, backoff.py) and
the Deployment controller's (deployments.py). The node agent calls them;
the CLI uses their read-only views (`get pods`, `get deploy`)."""
