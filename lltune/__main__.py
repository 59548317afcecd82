import sys

from lltune.cli import main

sys.exit(main())
