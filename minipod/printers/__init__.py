"""Every output format, in one place: docker's and podman's tables and
inspect JSON (docker.py) and kubectl's columns, describe texts and YAML
(kubectl.py). Printers format what they are handed: they read no state and
run nothing."""
