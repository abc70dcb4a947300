"""The stdio holders of containers, in conmon's role for podman and CRI-O:
processes that outlive the command which started a container and hold its
terminal or pipes for as long as it lives, writing its log and serving
attach clients. Below the core (core/container.py starts them); they import
nothing of it.

  frames.py  the socket protocol between a holder and its clients, the
             socket's path, reopen (the CRI's ReopenContainerLog)
  crilog.py  the CRI's log format, which the kubelet reads
  tty.py     a detached container's terminal (`python -m minipod.conmon.tty`)
  pipes.py   a CRI container's pipes (`python -m minipod.conmon.pipes`)
"""
