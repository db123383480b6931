"""``python -m synctools``: the same as the ``synctools`` command."""

import sys

from synctools.cli import main

sys.exit(main())
