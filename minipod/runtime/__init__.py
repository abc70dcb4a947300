"""The only code that forks, unshares, setns, mounts, pivot_roots and drops
capabilities."""
