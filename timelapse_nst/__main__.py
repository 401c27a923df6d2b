"""``python -m timelapse_nst`` runs the CLI."""

import sys

from timelapse_nst.cli import main

sys.exit(main())
