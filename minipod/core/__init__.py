"""The container runtime's core, as docker's and podman's verbs need it:
containers (container.py, started by imagerun.py from an image), their
exec (execution.py) and stdio (stdio.py), pods and their sandbox (pod.py),
removal that survives a crash (removal.py), host ports held across
removals (reservations.py), mounts and named volumes (mounts.py,
volumes.py), CPU and memory figures from the cgroups (stats.py). It stands on runtime/, image/, cni/ and conmon/ and imports
nothing above it: no CLI, API, CRI, role or cluster code."""
