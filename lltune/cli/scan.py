"""`lltune scan` and `lltune capture`."""

import argparse
import os
import sys
from typing import Any, Dict, Tuple

from lltune.common.errors import InputError
from lltune.host.reader import Reader, RecordingReader, RootReader


def open_source(args: argparse.Namespace) -> Tuple[Reader, Dict[str, Any]]:
    """The reader the arguments name (live host, --root DIR, --from BUNDLE) and its label."""
    from lltune.host import capture

    _check_paths(args, "root", "bundle", "probes")
    bundle = getattr(args, "bundle", None)
    probes_file = getattr(args, "probes", None)
    if probes_file and not args.root:
        raise InputError("--probes needs --root (a bundle carries its own probes)")
    if bundle:
        reader, manifest, _ = capture.open_bundle(bundle)
        return reader, {"kind": "capture", "path": os.path.abspath(bundle),
                        "captured": manifest.get("source")}
    if args.root:
        if not os.path.isdir(args.root):
            raise InputError("not a directory", args.root)
        probes = capture.load_probes(probes_file) if probes_file else None
        return RootReader(args.root, probes), {"kind": "root", "path": os.path.abspath(args.root)}
    return RootReader("/"), {"kind": "live", "path": "/"}


def _write(path: str, text: str) -> None:
    from lltune.common.files import write_output

    write_output(path, text.encode("utf-8"))


def _check_paths(args: argparse.Namespace, *names: str) -> None:
    """An empty string is not a file name: `--root ''` must not mean the live host."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and not value.strip():
            raise InputError("--%s needs a file or directory name, not an empty string"
                             % {"bundle": "from", "md_report": "md-report"}.get(name, name))


def run_scan(args: argparse.Namespace) -> int:
    from lltune.host.scan import scan
    from lltune.model import snapshot
    from lltune.report import markdown as report

    _check_paths(args, "output", "md_report")
    reader, source = open_source(args)
    result = scan(reader, source)
    fmt = snapshot.format_for(args.output, args.format)
    summary_stream = sys.stderr if "-" in (args.output, args.md_report) else sys.stdout
    if args.output:
        _write(args.output, snapshot.render(result, fmt))
    if args.md_report:
        _write(args.md_report, report.markdown(result))
    if not args.quiet:
        summary_stream.write(report.summary(result))
        for path, what in ((args.output, "snapshot"), (args.md_report, "report")):
            if path and path != "-":
                summary_stream.write("%s written to %s\n" % (what, path))
    return 0


def run_capture(args: argparse.Namespace) -> int:
    from lltune.host.capture import write_bundle
    from lltune.host.scan import scan

    _check_paths(args, "output", "root")
    if args.root and not os.path.isdir(args.root):
        raise InputError("not a directory", args.root)
    recorder = RecordingReader(RootReader(args.root or "/"))
    source = {"kind": "root", "path": os.path.abspath(args.root)} if args.root else \
        {"kind": "live", "path": "/"}
    result = scan(recorder, source)
    size = write_bundle(recorder, result, args.output)
    # With `-o -` the bundle is standard output: the summary goes to stderr.
    print("captured %d files, %d directory listings and %d probe answers into %s (%d KiB)"
          % (len(recorder.files), len(recorder.dirs), len(recorder.probes), args.output,
             size // 1024), file=sys.stderr if args.output == "-" else sys.stdout)
    return 0
