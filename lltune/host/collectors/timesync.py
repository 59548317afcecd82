"""Time: PTP hardware clocks and the daemons that steer clocks (ptp4l, phc2sys, chronyd)."""

from typing import Any, Dict

from lltune.host.collectors import ScanContext
from lltune.host.collectors.nics import pci_device_path
from lltune.host.collectors.processes import process_table, running_commands

DAEMONS = ("ptp4l", "phc2sys", "timemaster", "chronyd", "ntpd")
CONFIG_FILES = ("/etc/ptp4l.conf", "/etc/sysconfig/ptp4l", "/etc/sysconfig/phc2sys",
                "/etc/timemaster.conf", "/etc/chrony.conf", "/etc/ntp.conf")


def collect(ctx: ScanContext) -> Dict[str, Any]:
    nic_by_pci = {nic["pci_address"]: nic["name"] for nic in ctx.sections.get("nics", [])
                  if nic.get("pci_address")}
    clocks = []
    for name in ctx.reader.listdir("/sys/class/ptp", []):
        device = ctx.reader.realpath("/sys/class/ptp/%s/device" % name)
        pci_path = pci_device_path(device) if device else None
        pci_address = pci_path.rsplit("/", 1)[1] if pci_path else None
        clocks.append({
            "name": name,
            "index": int(name[3:]) if name[3:].isdigit() else None,
            "clock_name": ctx.text("/sys/class/ptp/%s/clock_name" % name),
            "pci_address": pci_address,
            "nic": nic_by_pci.get(pci_address),
        })
    have_processes = bool(process_table(ctx))
    running = running_commands(ctx)
    return {"time": {
        "ptp_clocks": clocks,
        "daemons": {daemon: (daemon in running) if have_processes else None
                    for daemon in DAEMONS},
        "config_files": [path for path in CONFIG_FILES
                         if ctx.reader.read(path, None) is not None],
    }}
