"""The registry of audit's finding codes and the finding itself.

Codes are stable (scripts and `lltune audit --format json` users match on them), each with its
default severity and one line on what it checks; `lltune schema audit` lists them too
(audit.schema.json), and a test keeps the two in step.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

SEVERITIES = ("error", "warning", "info")

# code -> (default severity, what it checks). Stable: scripts match on these.
CHECKS: Dict[str, Tuple[str, str]] = {
    "safety.unsafe-value": ("error", "a value written into tuned.conf, a hook's data or a "
                                     "shell does not match its strict pattern"),
    "cpu.no-topology": ("warning", "the snapshot has no CPU topology: CPU checks skipped"),
    "cpu.unknown-cpu": ("error", "a CPU list names a CPU the host does not have"),
    "cpu.offline-cpu": ("error", "a CPU list names an offline CPU"),
    "cpu.sets-overlap": ("error", "isolated and housekeeping share CPUs"),
    "cpu.sets-incomplete": ("error", "online CPUs are neither isolated nor housekeeping"),
    "cpu.no-housekeeping": ("error", "no online CPU is left for housekeeping"),
    "cpu.smt-split": ("warning", "SMT siblings of one core are split between isolated and "
                                 "housekeeping"),
    "cpu.cpu0-isolated": ("warning", "CPU 0 is isolated"),
    "cpu.smt-off-siblings": ("warning", "smt: off takes CPUs offline that the config names"),
    "cpu.governor-no-cpufreq": ("warning", "a governor is set but the host has no cpufreq"),
    "cpu.governor-unavailable": ("error", "the governor is not offered by the cpufreq driver"),
    "cpu.epp-unsupported": ("warning", "EPP is set but no CPU exposes it"),
    "cpu.min-perf-pct-unsupported": ("warning", "min_perf_pct is set but intel_pstate is not "
                                                "active"),
    "cpu.turbo-unsupported": ("warning", "turbo is set but the host exposes no turbo control"),
    "cpu.idle-poll-smt-active": ("error", "idle=poll while SMT siblings are active"),
    "kernel.rt-throttling-without-stalld": ("error", "sched_rt_runtime_us -1 without stalld "
                                                     "installed or an acknowledgement"),
    "cpu.workload-regex-invalid": ("error", "a workload_processes entry is not a regular "
                                            "expression"),
    "cpu.unknown-cstate": ("error", "disable_cstates names a C-state the host does not have"),
    "kernel.mitigations-unacknowledged": ("error", "mitigations are turned off without "
                                                   "mitigations_risk_acknowledged: true"),
    "kernel.boot-critical-token": ("error", "cmdline_add/cmdline_remove touches a token that "
                                            "can stop the host booting or leave it unusable"),
    "kernel.dash-token": ("error", "a cmdline token starts with '-' (tuned reads it as a "
                                   "removal)"),
    "kernel.cmdline-duplicates-knob": ("error", "cmdline_add sets a key a kernel.* or cpu.* "
                                                "knob already sets"),
    "kernel.cmdline-bad-cpulist": ("error", "a hand-written isolcpus=/nohz_full=/rcu_nocbs= "
                                            "value is not a CPU list"),
    "kernel.cmdline-cpus-outside-isolated": ("error", "a hand-written isolcpus=/nohz_full=/"
                                                      "rcu_nocbs= names CPUs outside "
                                                      "cpu.isolated"),
    "kernel.nohz-full-unsupported": ("error", "nohz_full requested but the kernel is built "
                                              "without CONFIG_NO_HZ_FULL"),
    "kernel.rcu-nocbs-unsupported": ("error", "rcu_nocbs requested but the kernel is built "
                                              "without CONFIG_RCU_NOCB_CPU"),
    "kernel.tsc-reliable-unsafe": ("warning", "tsc=reliable without constant_tsc and "
                                              "nonstop_tsc"),
    "kernel.pstate-wrong-vendor": ("warning", "intel_pstate= on a non-Intel or amd_pstate= on "
                                              "a non-AMD CPU"),
    "kernel.rcu-nocb-poll-no-effect": ("warning", "rcu_nocb_poll without any rcu_nocbs CPU"),
    "memory.hugepages-headroom": ("error", "huge pages leave a node less than max(2 GiB, 25%) "
                                           "of its memory"),
    "memory.hugepages-unknown-node": ("error", "per_node names a NUMA node the host does not "
                                               "have"),
    "memory.hugepages-size-unsupported": ("error", "the host offers no huge pages of that "
                                                   "size"),
    "memory.hugepages-duplicate-size": ("error", "two pools of the same page size"),
    "memory.hugepages-per-node-at-boot": ("error", "a per-node pool reserved at boot: the "
                                          "command line can only give a total"),
    "memory.hugepages-memory-unknown": ("info", "node memory unknown: headroom not checked"),
    "irq.irqbalance-absent": ("info", "an irqbalance policy is set but irqbalance is not "
                                      "installed"),
    "irq.irqbalance-moves-pins": ("error", "NIC IRQs pinned with irq_cpus while irqbalance "
                                  "keeps running: it moves them again"),
    "irq.default-affinity-isolated": ("warning", "default IRQ affinity includes isolated "
                                                 "CPUs"),
    "network.unknown-nic": ("error", "no NIC on the host matches an interface entry"),
    "network.duplicate-nic": ("error", "two interface entries match the same NIC"),
    "network.nic-node-no-housekeeping": ("warning", "the NIC's NUMA node has no housekeeping "
                                                    "CPU"),
    "network.nic-irqs-on-isolated": ("error", "the NIC's IRQs land on isolated CPUs and "
                                              "irq_cpus does not pin them"),
    "network.unlisted-nic-irqs-on-isolated": ("info", "IRQs of NICs the config does not name "
                                                      "land on isolated CPUs now"),
    "network.irq-cpus-remote": ("warning", "irq_cpus are on another NUMA node than the NIC"),
    "network.irq-cpus-isolated": ("info", "irq_cpus pins IRQs onto isolated CPUs on purpose"),
    "network.channels-exceed-max": ("error", "channels above the NIC's maximum"),
    "network.rings-exceed-max": ("error", "ring sizes above the NIC's maximum"),
    "network.channels-zero": ("error", "channels leave the NIC without an rx or a tx queue"),
    "network.ethtool-unsupported": ("error", "the NIC's driver does not support that ethtool "
                                             "setting"),
    "network.ethtool-unknown": ("info", "the snapshot has no ethtool answers for the NIC"),
    "network.coalesce-unsupported": ("error", "a coalescing parameter the NIC does not have"),
    "network.coalesce-type": ("error", "adaptive-* takes true/false, the others integers"),
    "network.offload-unknown": ("error", "an offload (feature) the NIC does not have"),
    "network.offload-fixed": ("error", "an offload the driver does not let change"),
    "network.rps-on-isolated": ("warning", "RPS/XPS sends packet work to isolated CPUs"),
    "time.unknown-clocksource": ("error", "the clocksource is not available on the host"),
    "time.ptp-unknown-interface": ("error", "the PTP interface is not a NIC of the host"),
    "time.ptp-no-phc": ("error", "the PTP interface has no PTP hardware clock"),
    "time.ntp-and-phc2sys": ("warning", "chronyd/ntpd and phc2sys would both steer the "
                                        "system clock"),
    "services.critical-unit": ("error", "stopping or disabling a unit the host or lltune "
                                        "needs"),
    "services.unknown-unit": ("warning", "the unit is not installed on the host"),
    "sysctl.duplicates-knob": ("error", "a free-form sysctl that a knob already sets"),
    "sysctl.site-file-overrides": ("warning", "a site sysctl file tuned re-applies sets a sysctl "
                                              "the profile sets (lltune's hook sets it back)"),
    "limits.duplicate-domain": ("error", "two limits entries for the same domain"),
    "limits.wildcard-unacknowledged": ("error", "rtprio or unlimited memlock for '*' without "
                                                "limits_risk_acknowledged: true"),
    "limits.root-nofile-low": ("error", "root's nofile limit below 1024"),
    "tuned.missing": ("error", "tuned is not installed (info for an offline snapshot)"),
    "tuned.too-old": ("error", "tuned is older than 2.18 (info for an offline snapshot)"),
    "tuned.version-unknown": ("info", "tuned's version could not be read"),
    "tuned.base-profile-missing": ("error", "lltune's base profile is not in tuned's profile "
                                            "directories (info for an offline snapshot)"),
    "tuned.include-missing": ("error", "tuned.base_profile is not installed where tuned reads "
                                       "profiles (info for an offline snapshot)"),
    "tuned.bootloader-inactive": ("warning", "tuned's bootloader plugin is off (no "
                                             "/etc/grub.d/00_tuned): kernel parameters will "
                                             "not reach the next boot"),
    "tuned.bls-without-tuned-params": ("warning", "boot entries lack $tuned_params"),
    "tuned.bls-other-machine-id": ("warning", "boot entries are named for another "
                                              "machine-id"),
    "kernel.cmdline-remove-unremovable": ("error", "cmdline_remove names a token no included "
                                                   "profile adds: tuned cannot remove it"),
}


@dataclass
class Finding:
    severity: str
    code: str
    where: str  # file:line:column of the config key the finding is about
    key: str  # the dotted key path ("network.interfaces[0].channels")
    message: str
    evidence: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "where": self.where,
                "key": self.key, "message": self.message, "evidence": list(self.evidence)}

    def line(self) -> str:
        """One line of text: "SEVERITY code file:line:col: message (evidence)"."""
        text = "%s %s %s: %s" % (self.severity.upper(), self.code, self.where, self.message)
        if self.evidence:
            text += " (%s)" % "; ".join(self.evidence)
        return " ".join(text.split())
