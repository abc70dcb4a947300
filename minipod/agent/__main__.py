"""`python -m minipod.agent`: the node agent's process (see loop.py)."""

import sys

from minipod.agent import loop

sys.exit(loop.main())
