import sys

from minipod.client import main

sys.exit(main())
