"""The command line: argument parsing and the one place errors become messages and exit codes.

Subcommand modules are imported only when their command runs, so `lltune --help` stays fast.
"""

import argparse
import importlib
from typing import Any, List, Optional

from lltune import __version__
from lltune.common.errors import EXIT_CODES_HELP, EXIT_ENVIRONMENT, EXIT_USAGE, LLTuneError

DESCRIPTION = """Low-latency tuning for RHEL 9 family hosts, applied through tuned.

Typical flow: scan -> gen-config -> audit -> apply --plan -> apply -> verify (-> rollback)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, "%s: error: %s (see --help)\n" % (self.prog, message))


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--root", metavar="DIR",
                       help="read DIR/proc, DIR/sys, DIR/etc instead of the live host")
    group.add_argument("--from", dest="bundle", metavar="BUNDLE",
                       help="read a capture bundle made by `lltune capture`")
    parser.add_argument("--probes", metavar="FILE",
                        help="with --root: recorded ethtool/D-Bus answers (a bundle's "
                             "probes.json)")


def _add_format_option(parser: argparse.ArgumentParser, schemas: str) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: one document on standard output (its schema: `lltune "
                             "schema %s`), progress on standard error" % schemas)


def build_parser() -> Parser:
    parser = Parser(prog="lltune", description=DESCRIPTION, epilog=EXIT_CODES_HELP,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="lltune " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    scan = commands.add_parser(
        "scan", help="capture the host read-only: snapshot and report",
        description="Read the host (or a root prefix, or a capture bundle) and write a "
                    "snapshot. Changes nothing.", epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_source_options(scan)
    scan.add_argument("--format", choices=("yaml", "json"), default=None,
                      help="snapshot format (default: from the --output suffix, else yaml)")
    scan.add_argument("-o", "--output", metavar="FILE",
                      help="write the snapshot to FILE ('-' for standard output)")
    scan.add_argument("--md-report", metavar="FILE",
                      help="write a Markdown report to FILE ('-' for standard output)")
    scan.add_argument("-q", "--quiet", action="store_true", help="no terminal summary")
    scan.set_defaults(handler="lltune.cli.scan:run_scan")

    capture = commands.add_parser(
        "capture", help="bundle every file and command output scan uses, for offline scans",
        description="Record what a scan reads into a .tar.gz bundle that `lltune scan --from` "
                    "reads on any machine. Changes nothing on the host.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    capture.add_argument("-o", "--output", metavar="FILE", required=True,
                         help="the bundle to write (host.tar.gz; '-' for standard output)")
    capture.add_argument("--root", metavar="DIR", help="capture a tree at a root prefix")
    capture.set_defaults(handler="lltune.cli.scan:run_capture")

    gen = commands.add_parser(
        "gen-config", help="write a commented config with defaults chosen for this host",
        description="Turn a snapshot (or the live host) into a commented YAML config whose "
                    "every value is chosen from the snapshot. Changes nothing on the host.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    gen.add_argument("--snapshot", metavar="FILE", help="a snapshot from `lltune scan` "
                                                         "(default: scan the live host)")
    gen.add_argument("--preset", choices=("balanced", "low-latency", "extreme"),
                     default="low-latency", help="how far to go (default: low-latency)")
    gen.add_argument("-o", "--output", metavar="FILE", help="write the config to FILE "
                                                            "(default: standard output)")
    gen.set_defaults(handler="lltune.cli.config:run_gen_config")

    audit = commands.add_parser(
        "audit", help="check a config against its schema and against the host",
        description="Validate a config against the JSON Schema, then cross-check it with the "
                    "host (a snapshot, or the live host). Exit 1 when any check is an error.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_argument("-c", "--config", metavar="FILE", required=True)
    audit.add_argument("--snapshot", metavar="FILE", help="a snapshot from `lltune scan` "
                                                           "(default: scan the live host)")
    audit.add_argument("--format", choices=("text", "json"), default="text")
    audit.set_defaults(handler="lltune.cli.config:run_audit")

    apply = commands.add_parser(
        "apply", help="apply a config through tuned (--plan: show and stage, change nothing)",
        description="Audit the config, plan every change (current -> desired, mechanism, "
                    "reboot), stage a backup bundle, then (without --plan, as root) render the "
                    "tuned profile, switch tuned to it over D-Bus, verify, and enable lltune's "
                    "units. On any failure the previous profile and files are put back.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    apply.add_argument("-c", "--config", metavar="FILE", required=True)
    apply.add_argument("--snapshot", metavar="FILE", help="plan against a snapshot file "
                                                           "(--plan only; apply reads the host)")
    apply.add_argument("--plan", action="store_true",
                       help="show the plan and write its bundle; change nothing else")
    apply.add_argument("--no-bundle", action="store_true",
                       help="with --plan: write nothing at all, not even the plan bundle "
                            "(check mode)")
    apply.add_argument("--keep", type=int, default=10, metavar="N",
                       help="backup bundles to keep (default 10)")
    apply.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                       help="how long to wait for tuned to apply the profile (default 600, "
                            "as tuned-adm)")
    apply.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    _add_format_option(apply, "apply|plan")
    apply.set_defaults(handler="lltune.cli.apply:run_apply")

    verify = commands.add_parser(
        "verify", help="compare the live host with the config; exit 1 on drift",
        description="Scan the host and compare every knob the config manages with its desired "
                    "value (the kernel command line once the host has rebooted since apply), "
                    "and ask tuned to verify its profile.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("-c", "--config", metavar="FILE",
                        help="default: the config of the last apply")
    verify.add_argument("--format", choices=("text", "json"), default="text")
    verify.add_argument("--log", action="store_true",
                        help="also log the result to the journal (the boot-time unit uses it)")
    verify.set_defaults(handler="lltune.cli.apply:run_verify")

    rollback = commands.add_parser(
        "rollback", help="switch tuned back and restore every file lltune wrote",
        description="Switch tuned back to the profile that was active before apply (or off), "
                    "restore the files apply wrote byte for byte, delete those it created, and "
                    "disable lltune's units.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    rollback.add_argument("--backup", metavar="ID|PATH",
                          help="which apply to undo (default: the last one)")
    rollback.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                          help="how long to wait for tuned to switch back (default 600)")
    rollback.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    _add_format_option(rollback, "rollback")
    rollback.set_defaults(handler="lltune.cli.apply:run_rollback")

    backups = commands.add_parser("backups", help="list backup bundles (newest first)",
                                  epilog=EXIT_CODES_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    backups.add_argument("--keep", type=int, metavar="N",
                         help="delete all but the newest N (never the one rollback needs)")
    _add_format_option(backups, "backups")
    backups.set_defaults(handler="lltune.cli.apply:run_backups")

    validate = commands.add_parser(
        "validate", help="measure the isolated CPUs' latency and give a verdict (root)",
        description="Verify first, then measure the CPUs to validate with hwlatdetect, "
                    "cyclictest, oslat and rtla's osnoise and timerlat (each that is "
                    "installed, each for --duration), with lltune and the tools' main threads "
                    "on the housekeeping CPUs. Writes the result (JSON, `lltune schema "
                    "validate`), a Markdown report and an SVG picture under the state "
                    "directory's validate/ID/. Exit 1 over --max-latency-us or on drift, 3 "
                    "when a tool is missing or gave no usable result, 130 after Ctrl-C (what "
                    "was measured is still reported).",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("-c", "--config", metavar="FILE",
                          help="verify against FILE (default: the config of the last apply)")
    validate.add_argument("--duration", default="60s", metavar="TIME",
                          help="how long each tool measures: 10s, 5m, 1h (default 60s)")
    validate.add_argument("--cpus", default="isolated", metavar="isolated|LIST",
                          help="the CPUs to measure (default: the isolated ones)")
    validate.add_argument("--max-latency-us", type=int, metavar="N",
                          help="the threshold of the verdict, in microseconds")
    validate.add_argument("--enforce-wakeup", action="store_true",
                          help="judge cyclictest and timerlat by the threshold on a kernel "
                               "without PREEMPT_RT too")
    validate.add_argument("--tools", metavar="LIST",
                          help="comma-separated, from hwlatdetect,cyclictest,oslat,osnoise,"
                               "timerlat (default: every one installed)")
    validate.add_argument("--compare", metavar="ID|PATH",
                          help="compare with an earlier result (its id or result.json)")
    validate.add_argument("--force", action="store_true",
                          help="measure even where user tasks run on the CPUs to measure")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(handler="lltune.cli.validate:run_validate")

    schema = commands.add_parser(
        "schema", help="print a JSON Schema (the config's, by default)",
        description="Print the JSON Schema (Draft 7) of the config, the snapshot, audit's "
                    "JSON output, a validate result, or the --format json output of apply, "
                    "apply --plan (plan), rollback or backups.")
    # A metavar: the choices in braces are one word too long for the man page's line.
    schema.add_argument("which", nargs="?", default="config", metavar="WHICH",
                        choices=("config", "snapshot", "audit", "validate", "apply", "plan",
                                 "rollback", "backups"),
                        help="config (default), snapshot, audit, validate, apply, plan, "
                             "rollback or backups")
    schema.set_defaults(handler="lltune.cli.config:run_schema")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from lltune.cli.streams import Guard, StreamError

    guard = Guard()
    command = "lltune"
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # --help, --version and usage errors end here
            guard.finish()
            raise
        command = "lltune %s" % args.command
        code = _run(args, guard, command)
        guard.finish()
        return code
    except BrokenPipeError:
        # The reader of our output went away (`lltune scan -o - | head`): not an error.
        guard.stdout.broken = True
        return 0
    except StreamError as exc:
        guard.say("%s: error: %s" % (command, exc.strerror))
        return EXIT_ENVIRONMENT
    finally:
        guard.restore()


def _run(args: argparse.Namespace, guard: Any, command: str) -> int:
    module_name, function_name = args.handler.split(":")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        return int(handler(args) or 0)
    except LLTuneError as exc:
        guard.say("%s: error: %s" % (command, exc))
        return exc.exit_code
    except KeyboardInterrupt:
        guard.say("%s: interrupted" % command)
        return 130
