import sys

from validate.suite import main

sys.exit(main())
