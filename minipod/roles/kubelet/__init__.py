"""The kubelet's role on this node: Pod objects made real as pods
(pods.py), their status as the API shows it, restarts with back-off
(restarts.py, backoff.py, recovery.py), readiness probes (probes.py) and
Services' environment variables (service_env.py). The agent runs it; the
API and the CLI read its views (`get pods`)."""
