"""minipod: a small, real Linux container runtime with pods, pause and CNI."""

__version__ = "0.1.0"
