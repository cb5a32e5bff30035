import sys

from mftheory.cli import main

sys.exit(main())
