"""``python -m trainlab`` runs the command line."""
import sys

from trainlab.cli import main

sys.exit(main())
