"""Malformed configs: each is refused with exit code 2 and one line on stderr naming the file,
line, column and key; hostile ones (alias bomb, deep nesting, a huge string) are refused fast.

Each case runs the real command (`lltune audit -c FILE --snapshot S`): schema errors come
before any host check, so the snapshot only has to be a valid one.
"""

import json
import re
import time

import pytest

from lltune.cli.main import main

V = "version: 1\n"

# (name, config text, line of the error, key the message must name)
CASES = [
    ("tab-indent", V + "cpu:\n\tgovernor: performance\n", 3, "cpu"),
    ("unclosed-flow-sequence", V + "cpu:\n  disable_cstates: [C6\n", 4,
     "cpu.disable_cstates[0]"),
    ("unclosed-quote", V + "cpu:\n  isolated: \"1-3\n", 4, "cpu.isolated"),
    ("colon-in-plain-value", V + "cpu:\n  isolated: 1-3: 5\n", 3, "cpu.isolated"),
    ("bad-dedent", V + "cpu:\n  isolated: 1-3\n governor: performance\n", 4, "cpu.isolated"),
    ("duplicate-top-level-key", V + "cpu: {}\ncpu: {}\n", 3, "cpu"),
    ("duplicate-nested-key", V + "cpu:\n  governor: performance\n  governor: powersave\n", 4,
     "cpu.governor"),
    ("duplicate-key-in-interface", V + "network:\n  interfaces:\n    - match: {name: eth0}\n"
     "      role: latency\n      role: other\n", 6, "network.interfaces[0].role"),
    ("alias", V + "cpu:\n  isolated: &iso 1-3\n  housekeeping: *iso\n", 3, "cpu.isolated"),
    ("billion-laughs-start", V + "sysctl: &a {k.a: 1}\n", 2, "sysctl"),
    ("python-tag", V + "cpu:\n  governor: !!python/name:os.system performance\n", 3,
     "cpu.governor"),
    ("local-tag", V + "cpu:\n  governor: !gov performance\n", 3, "cpu.governor"),
    ("unknown-top-level-key", V + "cpus:\n  isolated: 1-3\n", 2, "cpus"),
    ("unknown-cpu-key", V + "cpu:\n  isolate: 1-3\n", 3, "cpu.isolate"),
    ("unknown-interface-key", V + "network:\n  interfaces:\n    - match: {name: eth0}\n"
     "      irq_cpu: 0\n", 5, "network.interfaces[0].irq_cpu"),
    ("unknown-match-key", V + "network:\n  interfaces:\n    - match: {ifname: eth0}\n", 4,
     "network.interfaces[0].match.ifname"),
    ("version-missing", "cpu: {}\n", 1, "(top level)"),
    ("version-2", "version: 2\n", 1, "version"),
    ("version-string", "version: '1'\n", 1, "version"),
    ("preset-unknown", V + "preset: fastest\n", 2, "preset"),
    ("mitigations-off-unquoted", V + "kernel:\n  mitigations: off\n", 3, "kernel.mitigations"),
    ("smt-off-unquoted", V + "cpu:\n  smt: off\n", 3, "cpu.smt"),
    ("swap-no-unquoted", V + "memory:\n  swap: no\n", 3, "memory.swap"),
    ("governor-yes", V + "cpu:\n  governor: yes\n", 3, "cpu.governor"),
    ("cpulist-reversed", V + "cpu:\n  isolated: 5-3\n", 3, "cpu.isolated"),
    ("cpulist-shell", V + "cpu:\n  isolated: '1-3;reboot'\n", 3, "cpu.isolated"),
    ("cpulist-beyond-nr-cpus", V + "cpu:\n  isolated: 0-99999\n", 3, "cpu.isolated"),
    ("cpulist-as-list", V + "cpu:\n  housekeeping: [0, 1]\n", 3, "cpu.housekeeping"),
    ("negative-latency", V + "cpu:\n  max_exit_latency_us: -1\n", 3,
     "cpu.max_exit_latency_us"),
    ("latency-as-string", V + "cpu:\n  max_exit_latency_us: '2'\n", 3,
     "cpu.max_exit_latency_us"),
    ("bool-as-string", V + "cpu:\n  turbo: 'true'\n", 3, "cpu.turbo"),
    ("bool-as-int", V + "cpu:\n  turbo: 1\n", 3, "cpu.turbo"),
    ("float-for-int", V + "memory:\n  stat_interval: 1.5\n", 3, "memory.stat_interval"),
    # Draft 7 calls 2.0 an integer; lltune would write "-1.0" into tuned.conf.
    ("whole-float-for-int", V + "kernel:\n  sched_rt_runtime_us: -1.0\n", 3,
     "kernel.sched_rt_runtime_us"),
    ("whole-float-version", "version: 1.0\n", 1, "version"),
    ("interfaces-mapping", V + "network:\n  interfaces:\n    eth0: {role: latency}\n", 3,
     "network.interfaces"),
    ("interface-null", V + "network:\n  interfaces:\n    - null\n", 4, "network.interfaces[0]"),
    ("interface-without-match", V + "network:\n  interfaces:\n    - role: latency\n", 4,
     "network.interfaces[0]"),
    ("match-two-keys", V + "network:\n  interfaces:\n    - match: {name: eth0, "
     "mac: '00:11:22:33:44:55'}\n", 4, "network.interfaces[0].match"),
    ("ifname-too-long", V + "network:\n  interfaces:\n    - match: {name: abcdefghijklmnopq}\n",
     4, "network.interfaces[0].match.name"),
    ("ifname-newline", V + "network:\n  interfaces:\n    - match: {name: \"eth0\\n\"}\n", 4,
     "network.interfaces[0].match.name"),
    ("mac-bad", V + "network:\n  interfaces:\n    - match: {mac: '00:11:22:33:44'}\n", 4,
     "network.interfaces[0].match.mac"),
    ("pci-bad", V + "network:\n  interfaces:\n    - match: {pci: '17:00.0'}\n", 4,
     "network.interfaces[0].match.pci"),
    ("channels-too-many", V + "network:\n  interfaces:\n    - match: {name: eth0}\n"
     "      channels: {combined: 5000}\n", 5, "network.interfaces[0].channels.combined"),
    ("rings-zero", V + "network:\n  interfaces:\n    - match: {name: eth0}\n"
     "      rings: {rx: 0}\n", 5, "network.interfaces[0].rings.rx"),
    ("rings-rx-jumbo", V + "network:\n  interfaces:\n    - match: {name: eth0}\n"
     "      rings: {rx-jumbo: 1}\n", 5, "network.interfaces[0].rings.rx-jumbo"),
    ("coalesce-bad-name", V + "network:\n  interfaces:\n    - match: {name: eth0}\n"
     "      coalesce: {RX-usecs: 0}\n", 5,
     "network.interfaces[0].coalesce.RX-usecs"),
    ("hugepage-size", V + "memory:\n  hugepages:\n    - {size: 4M, count: 1}\n", 4,
     "memory.hugepages[0].size"),
    ("hugepage-count-and-per-node", V + "memory:\n  hugepages:\n    - size: 2M\n"
     "      count: 1\n      per_node: {'0': 1}\n", 4, "memory.hugepages[0]"),
    ("hugepage-node-name", V + "memory:\n  hugepages:\n    - size: 2M\n"
     "      per_node: {node0: 1}\n", 5, "memory.hugepages[0].per_node.node0"),
    ("sysctl-name", V + "sysctl:\n  Kernel.Foo: 1\n", 3, "sysctl.Kernel.Foo"),
    ("sysctl-value-shell", V + "sysctl:\n  net.core.rmem_max: '1; reboot'\n", 3,
     "sysctl.net.core.rmem_max"),
    ("sysctl-value-list", V + "sysctl:\n  net.core.rmem_max: [1]\n", 3,
     "sysctl.net.core.rmem_max"),
    ("cmdline-token-space", V + "kernel:\n  cmdline_add: ['quiet splash']\n", 3,
     "kernel.cmdline_add[0]"),
    ("cmdline-duplicate-token", V + "kernel:\n  cmdline_add: [quiet, quiet]\n", 3,
     "kernel.cmdline_add"),
    ("unit-without-suffix", V + "services:\n  stop: [chronyd]\n", 3, "services.stop[0]"),
    ("limits-rtprio", V + "limits:\n  - {domain: '@t', rtprio: 100}\n", 3, "limits[0].rtprio"),
    ("limits-domain", V + "limits:\n  - {domain: 'bad domain', rtprio: 1}\n", 3,
     "limits[0].domain"),
    ("ptp-options-shell", V + "time:\n  ptp: {interface: eth0, ptp4l_options: '-i eth0; id'}\n",
     3, "time.ptp.ptp4l_options"),
    ("top-level-list", "- version: 1\n", 1, "(top level)"),
    ("top-level-scalar", "just text\n", 1, "(top level)"),
    ("empty", "", 1, "(top level)"),
    ("two-documents", V + "---\n" + V, 2, "(top level)"),
    ("escape-character", V + "cpu:\n  governor: \"perf\\x1bormance\"\n", 3, "cpu.governor"),
    ("raw-control-character", V + "cpu:\n  governor: perf\x07ormance\n", 3, "cpu.governor"),
    ("complex-key", V + "? [a, b]\n: 1\n", 2, "(top level)"),
    ("huge-integer", V + "memory:\n  swappiness: " + "9" * 5000 + "\n", 3, "memory.swappiness"),
]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    from tests.conftest import scan_root
    from tests.unit.hosts_for_examples import build_named

    base = tmp_path_factory.mktemp("malformed-host")
    probes = build_named("lab-template", str(base))
    path = base / "snapshot.json"
    path.write_text(json.dumps(scan_root(base / "root", probes)))
    return str(path)


def _audit(path, snapshot, capsys):
    code = main(["audit", "-c", str(path), "--snapshot", snapshot])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40
    assert len({name for name, _, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name, text, line, key", CASES, ids=[case[0] for case in CASES])
def test_malformed_config_is_one_line_exit_2(tmp_path, snapshot, capsys, name, text, line,
                                             key):
    path = tmp_path / ("%s.yaml" % name)
    path.write_text(text, encoding="utf-8")
    code, out, err = _audit(path, snapshot, capsys)
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    match = re.search(re.escape(str(path)) + r":(\d+):(\d+): ([^:]+): ", err)
    assert match, err
    assert int(match.group(1)) == line, err
    assert match.group(3) == key, err


@pytest.mark.parametrize("text, key, value", [
    (V + "cpu:\n  max_exit_latency_us: 2.0\n", "cpu.max_exit_latency_us", "2.0"),
    (V + "network:\n  interfaces:\n    - match: {name: eth0}\n      rings: {rx: 1024.0}\n",
     "network.interfaces[0].rings.rx", "1024.0"),
    (V + "network:\n  interfaces:\n    - match: {name: eth0}\n      channels: {combined: 2.0}"
     "\n", "network.interfaces[0].channels.combined", "2.0"),
    (V + "memory:\n  hugepages:\n    - size: 2M\n      per_node: {'0': 1.0}\n",
     "memory.hugepages[0].per_node.0", "1.0"),
    (V + "limits:\n  - {domain: '@t', rtprio: 99.0}\n", "limits[0].rtprio", "99.0"),
    (V + "limits:\n  - {domain: '@t', memlock: 1000.0}\n", "limits[0].memlock", "1000.0"),
    (V + "sysctl:\n  vm.max_map_count: 1.5e+300\n", "sysctl.vm.max_map_count", "1.5e+300"),
])
def test_a_float_is_not_an_integer(tmp_path, snapshot, capsys, text, key, value):
    path = tmp_path / "float.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = _audit(path, snapshot, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert re.search(r"%s:\d+:\d+: %s: expected (an integer|a string or an integer), got %s$"
                     % (re.escape(str(path)), re.escape(key), re.escape(value)), err.strip()), err


def test_not_utf8_names_line_and_column(tmp_path, snapshot, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\ncpu:\n  governor: perf\xe9\n")
    code, _, err = _audit(path, snapshot, capsys)
    assert code == 2 and "%s:3:17: not UTF-8" % path in err, err


def test_missing_file(tmp_path, snapshot, capsys):
    code, _, err = _audit(tmp_path / "nope.yaml", snapshot, capsys)
    assert code == 2 and "nope.yaml" in err and err.count("\n") == 1


# ------------------------------------------------------------------ hostile inputs

BOUND_SECONDS = 2.0  # a denial-of-service bound, not a benchmark: generous on purpose

ALIAS_BOMB = "version: 1\n" + "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    "a%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 10))
DEEP_FLOW = "version: 1\nsysctl: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_BLOCK = "version: 1\n" + "".join("%sk%d:\n" % (" " * i, i) for i in range(5000)) + \
    " " * 5000 + "v: 1\n"
HUGE_STRING = "version: 1\ncpu:\n  governor: '" + "a" * (5 * 1024 * 1024) + "'\n"
LONG_STRING = "version: 1\ncpu:\n  governor: '" + "a" * (1000 * 1000) + "'\n"  # under the cap
MANY_NODES = "version: 1\nsysctl: [" + "1, " * 30000 + "1]\n"


@pytest.mark.parametrize("name, text", [("alias-bomb", ALIAS_BOMB), ("deep-flow", DEEP_FLOW),
                                        ("deep-block", DEEP_BLOCK),
                                        ("5mb-string", HUGE_STRING),
                                        ("1mb-string", LONG_STRING),
                                        ("30k-nodes", MANY_NODES)])
def test_hostile_configs_are_refused_fast(tmp_path, snapshot, capsys, name, text):
    path = tmp_path / ("%s.yaml" % name)
    path.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    code, _, err = _audit(path, snapshot, capsys)
    elapsed = time.perf_counter() - started
    print("%s: %d bytes refused in %.3f s: %s" % (name, len(text), elapsed, err.strip()[-90:]))
    assert code == 2 and err.count("\n") == 1, err
    assert elapsed < BOUND_SECONDS
