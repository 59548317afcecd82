"""Whether tuned's [bootloader] plugin can put lltune's kernel parameters on the next boot.

tuned (plugins/plugin_bootloader.py) disables the plugin when /etc/grub.d/00_tuned is missing,
so isolcpus= and the rest never reach GRUB; it stores the parameters in grubenv's tuned_params,
and on BLS systems a boot entry gets them only when its options line carries $tuned_params
(kernel-install's 92-tuned.install adds it to the entries it writes, named
<machine-id>-<kernel>.conf: entries named for another machine, as on a cloned image, are not
the ones it maintains). Audit warns before apply; verify names the cause after the reboot.
"""

from typing import Any, Dict, List

from lltune.audit.context import AuditContext
from lltune.config import resolve
from lltune.model.cmdline import kernel_tokens
from lltune.model.queries import dig


def _bootloader(snapshot: Dict[str, Any]) -> Dict[str, Any]:
    facts = dig(snapshot, "services", "tuned", "bootloader")
    return facts if isinstance(facts, dict) else {}


def plugin_inactive(snapshot: Dict[str, Any]) -> bool:
    return _bootloader(snapshot).get("grub_tuned_script") is False


def entries_without_params(snapshot: Dict[str, Any]) -> List[str]:
    return [entry.get("name") for entry in _bootloader(snapshot).get("bls_entries") or []
            if isinstance(entry, dict) and not entry.get("tuned_params")]


def entries_of_other_machines(snapshot: Dict[str, Any]) -> List[str]:
    facts = _bootloader(snapshot)
    machine = facts.get("machine_id")
    if not machine:
        return []
    return [entry.get("name") for entry in facts.get("bls_entries") or []
            if isinstance(entry, dict) and entry.get("machine_id") not in (None, machine)]


def why_parameters_are_missing(snapshot: Dict[str, Any]) -> List[str]:
    """After an apply and a reboot: what kept tuned's parameters off this boot, if the host
    tells (verify shows these instead of plain drift)."""
    facts = _bootloader(snapshot)
    causes = []
    if plugin_inactive(snapshot):
        causes.append("tuned's bootloader plugin is off: /etc/grub.d/00_tuned is missing")
    if facts.get("grubenv") and not facts.get("grubenv_tuned_params"):
        causes.append("%s has no tuned_params: tuned did not write the parameters for GRUB"
                      % facts["grubenv"])
    without = entries_without_params(snapshot)
    if without:
        causes.append("boot entries without $tuned_params: %s" % ", ".join(without[:4]))
    others = entries_of_other_machines(snapshot)
    if others:
        causes.append("boot entries named for another machine-id than /etc/machine-id (%s): "
                      "%s" % (facts.get("machine_id"), ", ".join(others[:4])))
    return causes


def check_bootloader(a: AuditContext) -> None:
    if not resolve.cmdline_tokens(a.config, a.snapshot):
        return  # nothing for the next boot
    if plugin_inactive(a.snapshot):
        a.add("tuned.bootloader-inactive", ("kernel",), "tuned's bootloader plugin is off on "
              "this host (no /etc/grub.d/00_tuned): the kernel parameters lltune sets will not "
              "reach the next boot", ["/etc/grub.d/00_tuned: absent"])
    without = entries_without_params(a.snapshot)
    if without:
        a.add("tuned.bls-without-tuned-params", ("kernel",), "%d boot entr%s lack "
              "$tuned_params: booting %s, the kernel gets none of tuned's parameters" % (
                  len(without), "y" if len(without) == 1 else "ies",
                  "it" if len(without) == 1 else "them"),
              ["/boot/loader/entries/%s: options without $tuned_params" % name
               for name in without[:4]])
    others = entries_of_other_machines(a.snapshot)
    if others:
        a.add("tuned.bls-other-machine-id", ("kernel",), "boot entries are named for another "
              "machine-id than this host's (%s), so tuned's kernel-install hook does not keep "
              "them: regenerate them for this machine (kernel-install add)" %
              _bootloader(a.snapshot).get("machine_id"),
              ["/boot/loader/entries/%s" % name for name in others[:4]])


def token_sources(snapshot: Dict[str, Any], token: str) -> List[str]:
    """Where a kernel token the host has comes from, when it is not a tuned profile's."""
    facts = _bootloader(snapshot)
    found = []
    if token in (facts.get("grub_cmdline") or []):
        found.append("GRUB_CMDLINE_LINUX in /etc/default/grub")
    for entry in facts.get("bls_entries") or []:
        if isinstance(entry, dict) and token in (entry.get("options") or []):
            found.append("the boot entry /boot/loader/entries/%s" % entry.get("name"))
    if not found and token in kernel_tokens(dig(snapshot, "kernel", "cmdline") or []):
        found.append("the running kernel's command line (/proc/cmdline): the boot loader's "
                     "own configuration")
    return found


def check_cmdline_removals(a: AuditContext) -> None:
    """tuned removes only what the profiles it includes add: anything else in cmdline_remove
    would be ignored (or, written mid-value, reach the kernel as a literal token)."""
    boot = resolve.boot_options(a.config, a.snapshot)
    for index, token in enumerate(a.value("kernel.cmdline_remove") or []):
        if not isinstance(token, str) or token in boot.inherited or token.startswith("-"):
            continue
        sources = token_sources(a.snapshot, token)
        adds = ", ".join(boot.inherited) or "nothing"
        a.add("kernel.cmdline-remove-unremovable", ("kernel", "cmdline_remove", index),
              "%s cannot be removed by tuned: it removes only what the profiles it includes "
              "add (here: %s); %s" % (token, adds, (
                  "it comes from %s: remove it there" % " and ".join(sources)) if sources
                  else "it is not on this host's command line at all"),
              ["included profiles: %s" % ", ".join(resolve.profile_includes(a.config))] +
              ([] if boot.known else ["the snapshot holds none of their files"]))
