"""The entry: what runs when someone types `minipod`, and the node process
that serves it.

  client.py  the thin client of the `minipod` command: hands the command to
             the node process over its socket, or runs the CLI itself
  main.py    the node process (`python -m minipod.node`): the agent's event
             loop, and the command server after its first pass
  serve.py   the command server: a worker forked per command
  worker.py  a worker becoming the caller (its descriptors, cwd, env) and
             running the CLI
  inotify.py what wakes the node process

The top layer: it imports the CLI and the roles; nothing imports it."""
