"""Host identity: name, OS release, kernel, PREEMPT_RT, virtualization, architecture."""

import re
import shlex
from typing import Any, Dict, Optional

from lltune.host.collectors import ScanContext

# DMI sys_vendor / product_name substrings that name a hypervisor (what systemd-detect-virt
# matches in src/basic/virt.c, reduced to the platforms RHEL 9 runs on).
_DMI_HYPERVISORS = (
    ("QEMU", "qemu"), ("KVM", "kvm"), ("VMware", "vmware"), ("VirtualBox", "oracle"),
    ("innotek GmbH", "oracle"), ("Microsoft Corporation", "microsoft"), ("Xen", "xen"),
    ("Amazon EC2", "amazon"), ("Google Compute Engine", "google"), ("OpenStack", "kvm"),
    ("Bochs", "bochs"), ("Parallels", "parallels"), ("Alibaba Cloud ECS", "kvm"),
)


def parse_os_release(text: Optional[str]) -> Dict[str, str]:
    """/etc/os-release: KEY=value lines with shell quoting."""
    fields: Dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not re.match(r"^[A-Z_][A-Z0-9_]*$", key):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        fields[key] = words[0] if words else ""
    return fields


def cpuinfo_first_block(text: Optional[str]) -> Dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (vendor, model, flags are per-host)."""
    fields: Dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def architecture(ctx: ScanContext, cpuinfo: Dict[str, str]) -> Optional[str]:
    # /proc/sys/kernel/arch exists from Linux 6.1; older kernels: tell from cpuinfo's fields.
    arch = ctx.text("/proc/sys/kernel/arch")
    if arch:
        return arch
    if "vendor_id" in cpuinfo and "flags" in cpuinfo:
        return "x86_64" if " lm" in " " + cpuinfo["flags"] else "i686"
    if "CPU implementer" in cpuinfo:
        return "aarch64"
    return None


def preempt_model(version: Optional[str], realtime_flag: Optional[str]) -> Optional[str]:
    """From /proc/sys/kernel/version ("#1 SMP PREEMPT_RT ...") and /sys/kernel/realtime."""
    if realtime_flag == "1":
        return "rt"
    if version is None:
        return None
    words = version.split()
    if "PREEMPT_RT" in words:
        return "rt"
    if "PREEMPT_DYNAMIC" in words:
        return "dynamic"
    if "PREEMPT" in words:
        return "full"
    return "none"


def virtualization(ctx: ScanContext, cpuinfo: Dict[str, str]) -> Dict[str, Any]:
    evidence = []
    kind = None
    for path in ("/sys/class/dmi/id/sys_vendor", "/sys/class/dmi/id/product_name",
                 "/sys/class/dmi/id/bios_vendor"):
        value = ctx.text(path)
        if not value:
            continue
        for needle, name in _DMI_HYPERVISORS:
            if needle in value:
                kind = kind or name
                evidence.append("%s=%s" % (path, value))
    hypervisor_type = ctx.text("/sys/hypervisor/type")
    if hypervisor_type:
        kind = kind or hypervisor_type
        evidence.append("/sys/hypervisor/type=%s" % hypervisor_type)
    flag = "hypervisor" in cpuinfo.get("flags", "").split()
    if flag:
        evidence.append("/proc/cpuinfo flags: hypervisor")
    if kind is None and flag:
        kind = "unknown-hypervisor"
    virtualized = True if (kind or flag) else (False if cpuinfo.get("flags") else None)
    return {"virtualized": virtualized, "type": kind or ("none" if virtualized is False else None),
            "evidence": evidence}


def collect(ctx: ScanContext) -> Dict[str, Any]:
    cpuinfo = ctx.shared("cpuinfo", lambda: cpuinfo_first_block(ctx.reader.read("/proc/cpuinfo",
                                                                                  None)))
    os_release = parse_os_release(ctx.reader.read("/etc/os-release", None)
                                  or ctx.reader.read("/usr/lib/os-release", None))
    if not os_release:
        ctx.note("host", "/etc/os-release", ctx.why("/etc/os-release", "absent or empty"))
    version = ctx.text("/proc/sys/kernel/version")
    model = preempt_model(version, ctx.text("/sys/kernel/realtime"))
    return {"host": {
        "hostname": ctx.text("/proc/sys/kernel/hostname"),
        "os": {
            "id": os_release.get("ID"),
            "id_like": os_release.get("ID_LIKE"),
            "version_id": os_release.get("VERSION_ID"),
            "pretty_name": os_release.get("PRETTY_NAME"),
        },
        "kernel": {"release": ctx.text("/proc/sys/kernel/osrelease"), "version": version},
        "preempt_model": model,
        "preempt_rt": None if model is None else model == "rt",
        "virtualization": virtualization(ctx, cpuinfo),
        "architecture": architecture(ctx, cpuinfo),
    }}
