"""Housekeeping over the whole node: garbage collection of what crashes and
kills left behind, in every layer (gc.py: `minipod gc`). It sits above
everything it cleans up after, the trace included."""
