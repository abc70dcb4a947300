"""The Kubernetes API's verbs, one implementation for the CLI and (next) HTTP."""
