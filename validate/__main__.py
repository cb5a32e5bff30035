import sys

from mftheory.validate.suite import main

sys.exit(main())
