"""Kernel command-line checks: the safety gate (boot-critical keys, mitigations without an
acknowledgement, '-' tokens; the lists are in kernelparams.py, names compared as the kernel
compares them), hand-written isolation tokens against cpu.isolated, and options the kernel or
the CPU cannot honour."""

from typing import Dict, List

from lltune.audit.context import AuditContext
from lltune.audit.kernelparams import is_boot_critical, param_name, turns_mitigations_off
from lltune.common.cpulist import cpu_text, parse_cpulist
from lltune.config import resolve
from lltune.model.cmdline import isolcpus_parts, token_key
from lltune.model.queries import dig


def check_cmdline(a: AuditContext) -> None:
    value = a.value
    add = [t for t in value("kernel.cmdline_add") or [] if isinstance(t, str)]
    remove = [t for t in value("kernel.cmdline_remove") or [] if isinstance(t, str)]
    acknowledged = value("kernel.mitigations_risk_acknowledged") is True
    if not acknowledged:
        if value("kernel.mitigations") == "off":
            a.add("kernel.mitigations-unacknowledged", ("kernel", "mitigations"),
                  "mitigations: 'off' runs without CPU vulnerability mitigations; set "
                  "kernel.mitigations_risk_acknowledged: true to accept that")
        for index, token in enumerate(add):
            if turns_mitigations_off(token):
                a.add("kernel.mitigations-unacknowledged", ("kernel", "cmdline_add", index),
                      "%s turns CPU vulnerability mitigations off; set kernel."
                      "mitigations_risk_acknowledged: true to accept that" % token)
    for section, tokens in (("cmdline_add", add), ("cmdline_remove", remove)):
        for index, token in enumerate(tokens):
            if is_boot_critical(token):
                a.add("kernel.boot-critical-token", ("kernel", section, index),
                      "%s is boot-critical: lltune never adds or removes it (a wrong value "
                      "stops the host booting or leaves it unusable)" % token)
            elif token.startswith("-"):
                a.add("kernel.dash-token", ("kernel", section, index),
                      "%s starts with '-', which tuned's bootloader plugin reads as 'remove'"
                      % token)
    own_keys = {param_name(token_key(t)) for t in resolve.cmdline_tokens(
        a.config, a.snapshot)[:-len(add) or None]} if add else set()
    iso = set(a.isolated)
    manual: Dict[str, List[int]] = {}
    for index, token in enumerate(add):
        key, _, text = token.partition("=")
        key = param_name(key)  # the kernel reads nohz-full= as nohz_full=
        if key in own_keys:
            a.add("kernel.cmdline-duplicates-knob", ("kernel", "cmdline_add", index),
                  "%s: lltune already writes %s= from its kernel.*/cpu.* settings; set it "
                  "there (or turn that setting off) instead" % (token, key))
        if key in ("isolcpus", "nohz_full", "rcu_nocbs"):
            listed = isolcpus_parts(text)[1] if key == "isolcpus" else text
            try:
                cpus = parse_cpulist(listed)
            except ValueError:
                a.add("kernel.cmdline-bad-cpulist", ("kernel", "cmdline_add", index),
                      "%s: %r is not a CPU list" % (token, listed))
                continue
            manual[key] = cpus
            outside = [cpu for cpu in cpus if cpu not in iso]
            if outside:
                a.add("kernel.cmdline-cpus-outside-isolated", ("kernel", "cmdline_add", index),
                      "%s names CPUs %s that cpu.isolated does not isolate" % (
                          token, cpu_text(outside)), ["cpu.isolated: %s" % cpu_text(iso)])
    config = dig(a.snapshot, "kernel", "config") or {}
    wants_nohz = bool(iso) and value("kernel.nohz_full") is True or "nohz_full" in manual
    if wants_nohz and config.get("CONFIG_NO_HZ_FULL") == "n":
        a.add("kernel.nohz-full-unsupported", ("kernel", "nohz_full"), "nohz_full is "
              "requested but this kernel is built without it: the boot option is ignored",
              ["/boot/config-<release>: CONFIG_NO_HZ_FULL is not set"])
    wants_nocbs = bool(iso) and value("kernel.rcu_nocbs") is True or "rcu_nocbs" in manual
    if wants_nocbs and config.get("CONFIG_RCU_NOCB_CPU") == "n":
        a.add("kernel.rcu-nocbs-unsupported", ("kernel", "rcu_nocbs"), "rcu_nocbs is "
              "requested but this kernel is built without it: the boot option is ignored",
              ["/boot/config-<release>: CONFIG_RCU_NOCB_CPU is not set"])
    if value("kernel.rcu_nocb_poll") is True and not wants_nocbs:
        a.add("kernel.rcu-nocb-poll-no-effect", ("kernel", "rcu_nocb_poll"), "rcu_nocb_poll "
              "only changes CPUs listed in rcu_nocbs, and there are none")
    if value("kernel.tsc_reliable") is True or "tsc=reliable" in add:
        arch = dig(a.snapshot, "host", "architecture")
        flags = dig(a.snapshot, "cpu", "flags")
        if arch not in (None, "x86_64"):
            a.add("kernel.tsc-reliable-unsafe", ("kernel", "tsc_reliable"), "tsc=reliable is "
                  "an x86 option; this host is %s" % arch)
        elif isinstance(flags, dict) and not (flags.get("constant_tsc") and
                                              flags.get("nonstop_tsc")):
            lacking = [f for f in ("constant_tsc", "nonstop_tsc") if not flags.get(f)]
            a.add("kernel.tsc-reliable-unsafe", ("kernel", "tsc_reliable"), "tsc=reliable "
                  "turns off the clocksource watchdog, but the TSC may drift or stop here",
                  ["/proc/cpuinfo flags lack %s" % ", ".join(lacking)])
    vendor = dig(a.snapshot, "cpu", "vendor")
    for path, wanted in (("kernel.intel_pstate", "GenuineIntel"),
                         ("kernel.amd_pstate", "AuthenticAMD")):
        if value(path) is not None and vendor and vendor != wanted:
            a.add("kernel.pstate-wrong-vendor", tuple(path.split(".")), "%s= does nothing on "
                  "a %s CPU" % (path.split(".")[1], vendor))


def check_rt_throttling(a: AuditContext) -> None:
    """RT throttling off leaves a spinning SCHED_FIFO thread free to starve its CPU's
    kworkers and ksoftirqd; lltune's profile starts stalld with it where stalld is installed
    (OpenShift's performance profile always pairs the two)."""
    if a.value("kernel.sched_rt_runtime_us") != -1 or \
            a.value("kernel.rt_throttling_off_acknowledged") is True or \
            resolve.stalld_installed(a.snapshot):
        return
    a.add("kernel.rt-throttling-without-stalld", ("kernel", "sched_rt_runtime_us"),
          "sched_rt_runtime_us: -1 turns RT throttling off, and stalld is not installed to "
          "rescue what a spinning SCHED_FIFO thread starves: install stalld (lltune's "
          "profile starts it), or set kernel.rt_throttling_off_acknowledged: true",
          ["stalld.service: not found"])
