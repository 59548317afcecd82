"""`lltune schema` (and, with the config issue, gen-config and audit)."""

import argparse
import json
import sys


def run_schema(args: argparse.Namespace) -> int:
    if args.which == "snapshot":
        from lltune.snapshot import schema
        document = schema()
    else:
        from lltune.config import config_schema
        document = config_schema()
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return 0
