import sys

from lltune.cli.main import main

sys.exit(main())
