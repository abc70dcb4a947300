"""`python -m minipod.node`: the node process (see main.py)."""

import sys

from minipod.node import main

sys.exit(main.main())
