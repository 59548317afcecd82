"""`lltune validate`: measure the CPUs lltune isolated and give a verdict."""

import argparse
import json
import os
import signal
import sys
from typing import Any, Dict, Optional, Tuple

from lltune.common.errors import EXIT_ENVIRONMENT, EXIT_FINDINGS, EnvironmentProblem, InputError

MAX_RESULT_BYTES = 64 * 1024 * 1024
EXIT_INTERRUPTED = 130


def load_result(reference: str) -> Dict[str, Any]:
    """An earlier result: its id (in the state directory), its directory or its result.json;
    checked against `lltune schema validate`."""
    from lltune.common.documents import parse_json
    from lltune.common.files import decode_input, read_input
    from lltune.tune.backup import state_dir
    from lltune.validate.result import check

    path = reference
    if os.sep not in reference and not os.path.exists(reference):
        path = os.path.join(state_dir(), "validate", reference)
    if os.path.isdir(path):
        path = os.path.join(path, "result.json")
    data = parse_json(decode_input(read_input(path, MAX_RESULT_BYTES, "validate result"),
                                   path), path)
    check(data, path)
    return data


def _config(path: Optional[str]) -> Tuple[Any, Optional[Dict[str, Any]], Optional[bytes]]:
    """(config, the last apply's state, the config's bytes): -c, else the last apply's."""
    from lltune.cli.apply import _config_for_verify
    from lltune.common.files import read_input
    from lltune.tune.backup import Bundle
    from lltune.tune.verify import latest_state

    state = latest_state()
    if path is None and not state:
        return None, None, None
    config = _config_for_verify(path, state)
    if path is not None:
        raw = read_input(path, MAX_RESULT_BYTES, "config")
    else:
        raw = Bundle(state["bundle"]).read("config.yaml")  # type: ignore[index]
    return config, state, raw


def _summary(document: Dict[str, Any], written: Dict[str, str]) -> str:
    from lltune.validate.markdown import p9999_text, us_text

    verdict = document["verdict"]
    lines = ["verdict: %s (%s)" % (verdict["status"].upper(), verdict["reason"])]
    if document["environment"]["virtualized"]:
        lines.append("note: measured in a VM (%s): not the hardware's numbers"
                     % document["environment"]["virtualized"])
    for name, run in sorted(document["tools"].items()):
        if run["status"] != "ok":
            lines.append("%s: %s %s" % (name, run["status"], run["message"]))
    for row in document["per_cpu"]:
        cyclic, oslat = row["cyclictest"] or {}, row["oslat"] or {}
        lines.append("CPU %-4d cyclictest max %s, p99.99 %s; oslat max %s" % (
            row["cpu"], us_text(cyclic.get("max_us")), p9999_text(cyclic),
            us_text(oslat.get("max_us"))))
    lines += ["%s: %s" % (name, path) for name, path in sorted(written.items())]
    return "\n".join(lines) + "\n"


def _exit_code(document: Dict[str, Any]) -> int:
    if document["interrupted"]:
        return EXIT_INTERRUPTED
    status = document["verdict"]["status"]
    if status == "incomplete":
        return EXIT_ENVIRONMENT
    if status == "fail" or document["environment"]["verify"]["status"] == "drift":
        return EXIT_FINDINGS
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from lltune.host.reader import RootReader
    from lltune.host.scan import scan
    from lltune.tune.backup import state_dir
    from lltune.tune.verify import verify
    from lltune.validate import session, tools

    options = session.Options(
        cpus=args.cpus, duration_s=session.parse_duration(args.duration),
        threshold_us=args.max_latency_us,
        tools=tools.parse_tool_list(args.tools) if args.tools is not None else None,
        force=args.force, enforce_wakeup=args.enforce_wakeup)
    if options.threshold_us is not None and not 1 <= options.threshold_us <= 10 ** 6:
        raise InputError("--max-latency-us must be between 1 and 1000000")
    if args.cpus != "isolated":
        _check_cpu_list(args.cpus)
    before = load_result(args.compare) if args.compare else None
    if os.geteuid() != 0:
        raise EnvironmentProblem("validate runs FIFO measuring threads and kernel tracers: "
                                 "run it as root")
    config, state, raw = _config(args.config)
    reader = RootReader("/")
    report = verify(config, state) if config is not None else None
    snapshot = scan(reader, {"kind": "live", "path": "/"})
    isolated = config.value("cpu.isolated") if config is not None else None
    cpus, housekeeping = session.choose_cpus(
        options.cpus, snapshot, _cpus(isolated) if isolated else None)
    plan, paths, found, missing = session.tool_plan(options.tools, reader, tools.SEARCH_PATH)
    if missing and (options.tools is not None or not plan):
        raise EnvironmentProblem("missing: %s" % "; ".join(missing.values()))
    busy = session.busy_tasks(reader, cpus, session.own_pids())
    if busy and not options.force:
        print("lltune validate: user tasks run on the CPUs to measure; the FIFO measuring "
              "threads would preempt them (--force to measure anyway):", file=sys.stderr)
        for task in busy[:20]:
            print("  %s" % task, file=sys.stderr)
        return EXIT_FINDINGS
    env = session.environment(snapshot, report, raw, found)
    run_id, path = session.result_dir(state_dir())
    from lltune.cli.apply import signals_interrupt

    # Stopped by systemd, `kill` or a dropped ssh session, validate stops its tool as Ctrl-C
    # does and still writes what it measured.
    with signals_interrupt(signal.SIGTERM, signal.SIGHUP):
        document = session.measure_and_report(options, snapshot, cpus, housekeeping, env,
                                              plan, paths, run_id, path, reader, missing)
    written = session.write_artifacts(path, document, before)
    if args.format == "json":
        sys.stdout.write(json.dumps(document, indent=1, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_summary(document, written))
    return _exit_code(document)


def _check_cpu_list(text: str) -> None:
    """--cpus LIST's syntax, before the host is read (which CPUs are online comes later)."""
    from lltune.common.cpulist import parse_cpulist

    try:
        parse_cpulist(text)
    except ValueError as exc:
        raise InputError("--cpus %r: %s" % (text, exc)) from None


def _cpus(value: Any) -> Any:
    from lltune.common.cpulist import parse_cpulist

    return parse_cpulist(value) if isinstance(value, str) else list(value)
