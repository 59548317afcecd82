"""The safety gate's lists: kernel command-line parameters lltune never adds or removes, and
the ones that turn CPU vulnerability mitigations off. Each entry names where it is documented.

Names are compared as the kernel compares them (kernel/params.c, parameq(): '-' and '_' are
the same character, everything else is case-sensitive), so `nr-cpus=1` is `nr_cpus=1`;
systemd and dracut read their own keys the same way (systemd's proc_cmdline_key_streq()).
"KP" below is the kernel's Documentation/admin-guide/kernel-parameters.txt.
"""

import re
from typing import Dict, Optional, Tuple


def param_name(key: str) -> str:
    """A parameter name as the kernel matches it: '-' read as '_'."""
    return key.replace("-", "_")


# (pattern of a normalised name, source). A wrong value stops the host booting, boots it into
# a shell or another target, or leaves it without its memory, CPUs, disks, network or console.
_BOOT_CRITICAL: Tuple[Tuple[str, str], ...] = (
    (r"BOOT_IMAGE", "set by the bootloader: the kernel image it loaded"),
    (r"root.*", "KP root=, rootfstype=, rootflags=, rootwait, rootdelay=: the root file system"),
    (r"ro|rw", "KP ro, rw: how the root file system is mounted"),
    (r"init|rdinit", "KP init=, rdinit=: the first program the kernel runs"),
    (r"initrd|noinitrd", "KP initrd=, noinitrd: the initial ramdisk"),
    (r"initcall_blacklist", "KP initcall_blacklist=: built-in drivers that never start"),
    (r"rd\..*", "dracut.cmdline(7): what the initramfs mounts, assembles and waits for"),
    (r"resume.*|noresume|hibernate", "KP resume=, resume_offset=, noresume, hibernate="),
    (r"single|emergency|rescue|[sS1-5]", "kernel-command-line(7): a rescue shell or runlevel"),
    (r"systemd\..*", "kernel-command-line(7): the unit, target and services systemd starts"),
    (r"mem|memmap", "KP mem=, memmap=: how much memory the kernel uses, and where"),
    (r"maxcpus|nr_cpus|possible_cpus|nosmp", "KP maxcpus=, nr_cpus=, possible_cpus=, nosmp: "
                                            "how many CPUs come up"),
    (r"module_blacklist", "KP module_blacklist=: modules (the disk or NIC driver) never load"),
    (r"modprobe\.blacklist", "modprobe.d(5): modules udev never loads"),
    (r"module\.sig_enforce", "KP module.sig_enforce: unsigned modules (out-of-tree NIC "
                             "drivers) refused"),
    (r"console", "KP console=: where the console and the emergency shell are"),
    (r"panic.*|oops", "KP panic=, panic_on_warn, oops=: the host reboots or hangs on a warning"),
    (r"acpi", "KP acpi=: acpi=off leaves a server without its interrupts and CPUs"),
    (r"fips", "dracut.cmdline(7) fips=: FIPS mode without its initramfs module stops boot"),
    (r"selinux|enforcing|security|lsm|lockdown", "KP selinux=, enforcing=, security=, lsm=, "
                                                 "lockdown=: the security policy"),
    (r"ima_appraise|ima_policy", "KP ima_appraise=, ima_policy=: unsigned files refused"),
    (r"ip|nfsroot|netroot|ifname|bootdev|nameserver", "KP ip=, nfsroot=; dracut.cmdline(7) "
                                                      "netroot=, ifname=, bootdev=: the "
                                                      "network the host boots from"),
    (r"net\.ifnames|biosdevname", "systemd.net-naming-scheme(7), biosdevname(1): NIC names "
                                  "change and the network configuration matches nothing"),
)
BOOT_CRITICAL_KEYS = re.compile("^(%s)$" % "|".join(p for p, _ in _BOOT_CRITICAL))


def is_boot_critical(token: str) -> bool:
    """Whether a token touches a boot-critical parameter ("--" ends the kernel's part of the
    command line: every token after it goes to init, init/main.c)."""
    key = token.partition("=")[0]
    return key == "--" or bool(BOOT_CRITICAL_KEYS.match(param_name(key)))


# The values of kstrtobool() (lib/kstrtox.c) that mean false: what a boolean parameter
# such as kpti= or kvm.nx_huge_pages= reads as "off".
def _false(value: str) -> bool:
    return value[:1] in ("0", "n", "N", "f", "F") or value[:2].lower() == "of"


# normalised name -> (the values that turn a mitigation off, or None: the bare flag does;
# source). KP, mitigations=off: "Equivalent to" lists what mitigations=off turns off.
MITIGATION_SWITCHES: Dict[str, Tuple[Optional[object], str]] = {
    "gather_data_sampling": ({"off"}, "KP mitigations=off list [X86]"),
    "indirect_target_selection": ({"off"}, "KP mitigations=off list [X86]"),
    "kpti": (_false, "KP mitigations=off list [ARM64]: kpti=0"),
    "kvm.nx_huge_pages": (_false, "KP mitigations=off list [X86]: kvm.nx_huge_pages=off"),
    "l1tf": ({"off"}, "KP mitigations=off list [X86]"),
    "mds": ({"off"}, "KP mitigations=off list [X86]"),
    "mmio_stale_data": ({"off"}, "KP mitigations=off list [X86]"),
    "no_entry_flush": (None, "KP mitigations=off list [PPC]"),
    "no_uaccess_flush": (None, "KP mitigations=off list [PPC]"),
    "nobp": (_false, "KP mitigations=off list [S390]: nobp=0"),
    "nopti": (None, "KP mitigations=off list [X86,PPC]"),
    "nospectre_bhb": (None, "KP mitigations=off list [ARM64]"),
    "nospectre_v1": (None, "KP mitigations=off list [X86,PPC]"),
    "nospectre_v2": (None, "KP mitigations=off list [X86,PPC,S390,ARM64]"),
    "reg_file_data_sampling": ({"off"}, "KP mitigations=off list [X86]"),
    "retbleed": ({"off"}, "KP mitigations=off list [X86]"),
    "spec_rstack_overflow": ({"off"}, "KP mitigations=off list [X86]"),
    "spec_store_bypass_disable": ({"off"}, "KP mitigations=off list [X86,PPC]"),
    "spectre_bhi": ({"off"}, "KP mitigations=off list [X86]"),
    "spectre_v2_user": ({"off"}, "KP mitigations=off list [X86]"),
    "srbds": ({"off"}, "KP mitigations=off list [X86,INTEL]"),
    "ssbd": ({"force-off"}, "KP mitigations=off list [ARM64]"),
    "tsa": ({"off"}, "KP mitigations=off list [X86,AMD]"),
    "tsx_async_abort": ({"off"}, "KP mitigations=off list [X86]"),
    "vmscape": ({"off"}, "KP mitigations=off list [X86]"),
    # Switches of their own, beyond what mitigations=off lists.
    "spectre_v2": ({"off"}, "KP spectre_v2=off: no Spectre v2 mitigation"),
    "pti": ({"off"}, "KP pti=off: no page table isolation (Meltdown)"),
    "nospec_store_bypass_disable": (None, "KP nospec_store_bypass_disable"),
    "no_stf_barrier": (None, "KP no_stf_barrier [PPC]"),
    "no_rfi_flush": (None, "KP no_rfi_flush [PPC]"),
    "kvm_intel.vmentry_l1d_flush": ({"never"}, "KP kvm-intel.vmentry_l1d_flush=never: L1TF "
                                               "in guests"),
}


def turns_mitigations_off(token: str) -> bool:
    """Whether a command-line token turns a CPU vulnerability mitigation off."""
    key, sep, value = token.partition("=")
    name = param_name(key)
    if name == "mitigations":
        # KP mitigations=: off, or (newer kernels) an attack vector opted out: no_user_kernel.
        return any(part == "off" or part.startswith("no_") for part in value.split(","))
    if name not in MITIGATION_SWITCHES:
        return False
    values = MITIGATION_SWITCHES[name][0]
    if values is None:
        return True  # a flag: its handler runs whatever follows '='
    if not sep:
        return False
    return values(value) if callable(values) else value in values  # type: ignore[operator]
