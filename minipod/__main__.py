import sys

from minipod.node.client import main

sys.exit(main())
