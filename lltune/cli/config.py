"""`lltune gen-config`, `lltune audit` and `lltune schema`."""

import argparse
import json
import sys
from typing import Any, Dict


def _snapshot(path: Any) -> Dict[str, Any]:
    """The snapshot file named by --snapshot, else a read-only scan of the live host."""
    if path is not None:
        from lltune.model import snapshot
        return snapshot.load(path)
    from lltune.host.reader import RootReader
    from lltune.host.scan import scan
    return scan(RootReader("/"), {"kind": "live", "path": "/"})


def run_gen_config(args: argparse.Namespace) -> int:
    from lltune.common.errors import InputError
    from lltune.common.files import write_output
    from lltune.genconfig.document import generate

    if args.output is not None and not args.output.strip():
        raise InputError("--output needs a file name, not an empty string")
    text = generate(_snapshot(args.snapshot), args.preset)
    if args.output and args.output != "-":
        write_output(args.output, text.encode("utf-8"))
        sys.stderr.write("config written to %s; check it with `lltune audit -c %s`\n"
                         % (args.output, args.output))
    else:
        sys.stdout.write(text)
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from lltune.audit import run as audit
    from lltune.config import loader as config

    loaded = config.load(args.config)  # schema errors first: InputError, exit 2
    snapshot = _snapshot(args.snapshot)
    findings = audit.audit(loaded, snapshot)
    if args.format == "json":
        sys.stdout.write(json.dumps(audit.as_json(findings, loaded, snapshot), indent=2) + "\n")
    else:
        sys.stdout.write(audit.as_text(findings))
        sys.stderr.write(audit.summary(findings, loaded))
    return audit.exit_code(findings)


def schema_document(which: str) -> Dict[str, Any]:
    from lltune.cli import documents

    if which in documents.NAMES:
        return documents.schema(which)
    if which == "snapshot":
        from lltune.model.snapshot import schema
        return schema()
    if which == "validate":
        from lltune.validate.result import schema as validate_schema
        return validate_schema()
    if which == "audit":
        from lltune.audit.run import schema
        return schema()
    from lltune.config.schema import config_schema
    return config_schema()


def run_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(schema_document(args.which), indent=2) + "\n")
    return 0
