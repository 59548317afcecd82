"""System Management Interrupts per CPU, from MSR_SMI_COUNT where it can be read.

SMIs run firmware code with the OS stopped: no tracer sees them, only this counter (Intel,
since Nehalem) and hwlatdetect's gaps. Reading needs the msr module's /dev/cpu/N/msr; any
failure (AMD, a VM, no module) is "unknown", never an error.
"""

import os
import struct
from typing import Dict, List, Optional

MSR_SMI_COUNT = 0x34


def smi_count(cpu: int, dev: str = "/dev/cpu") -> Optional[int]:
    try:
        fd = os.open("%s/%d/msr" % (dev, cpu), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        data = os.pread(fd, 8, MSR_SMI_COUNT)
    except OSError:
        return None
    finally:
        os.close(fd)
    # The counter is the low 32 bits.
    return struct.unpack("<Q", data)[0] & 0xFFFFFFFF if len(data) == 8 else None


def smi_counts(cpus: List[int], dev: str = "/dev/cpu") -> Dict[int, Optional[int]]:
    return {cpu: smi_count(cpu, dev) for cpu in cpus}


def smi_delta(before: Dict[int, Optional[int]], after: Dict[int, Optional[int]]
              ) -> Dict[int, Optional[int]]:
    """SMIs during the run per CPU; None where either reading is unknown (the 32-bit
    counter wraps: an after below before counts the wrap)."""
    found: Dict[int, Optional[int]] = {}
    for cpu, first in before.items():
        last = after.get(cpu)
        found[cpu] = None if first is None or last is None else (last - first) % (1 << 32)
    return found
