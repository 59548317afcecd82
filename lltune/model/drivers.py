"""What NIC drivers do with the settings gen-config proposes, by driver name (ethtool -i).

gen-config proposes only what the host will hold: a value a driver rounds, or reads back as
something else, makes the hook's verify (and tuned's) fail after an apply that did what it
was asked. The ioctl lltune reads coalescing with cannot say which parameters a driver
supports, so this is a table of drivers whose coalescing-off settings were read in their
ethtool code and read back exactly; every other driver gets no proposal and the reason.
"""

from typing import Dict, Optional

# Driver -> the settings that turn interrupt coalescing off and read back as written.
COALESCE_OFF: Dict[str, Dict[str, object]] = {
    # rx-usecs is kept as set (ice and i40e align to 2 us, so 0 stays 0).
    "mlx5_core": {"adaptive-rx": False, "adaptive-tx": False, "rx-usecs": 0},
    "ice": {"adaptive-rx": False, "adaptive-tx": False, "rx-usecs": 0},
    "i40e": {"adaptive-rx": False, "adaptive-tx": False, "rx-usecs": 0},
    # ixgbe has no adaptive-rx switch: rx-usecs 1 is its dynamic mode, 0 is off.
    "ixgbe": {"rx-usecs": 0},
    "sfc": {"adaptive-rx": False, "rx-usecs": 0},
}

# Why a driver is left out, where there is more to say than "not known".
COALESCE_CAVEATS: Dict[str, str] = {
    "e1000e": "rx-usecs 0 to 4 select interrupt-throttle modes, not microseconds, and the "
              "value read back can differ from the one set (a QEMU e1000e reads 0 back as 3)",
    "e1000": "rx-usecs 0 to 4 select interrupt-throttle modes, not microseconds",
    "igb": "rx-usecs 1 to 3 select interrupt-throttle modes, not microseconds",
    "virtio_net": "coalescing needs the device's VIRTIO_NET_F_NOTF_COAL, which most "
                  "hypervisors do not offer",
}


def coalesce_off(driver: Optional[str]) -> Optional[Dict[str, object]]:
    """The coalescing-off settings `driver` holds as set; None when not known."""
    settings = COALESCE_OFF.get(driver or "")
    return dict(settings) if settings else None


def coalesce_caveat(driver: Optional[str]) -> str:
    return COALESCE_CAVEATS.get(driver or "", "lltune does not know that %s keeps "
                                "coalescing settings as written" % (driver or "its driver"))
