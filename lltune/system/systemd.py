"""systemd's Manager API over the system bus: the unit calls lltune makes for its own units."""

from typing import List, Optional

from lltune.system.dbus import SYSTEMD, CallFailed, SystemBus


class Systemd:
    """The bits of org.freedesktop.systemd1.Manager lltune needs for its own units."""

    def __init__(self, bus: SystemBus):
        self.bus = bus

    def unit_file_state(self, unit: str) -> Optional[str]:
        try:
            return str(self.bus.call(*SYSTEMD, "GetUnitFileState", "s", [unit])[0])
        except CallFailed:
            return None

    def enable(self, units: List[str]) -> None:
        self.bus.call(*SYSTEMD, "EnableUnitFiles", "asbb", [units, False, False])
        self.bus.call(*SYSTEMD, "Reload")

    def disable(self, units: List[str]) -> None:
        self.bus.call(*SYSTEMD, "DisableUnitFiles", "asb", [units, False])
        self.bus.call(*SYSTEMD, "Reload")

    def start(self, unit: str) -> None:
        self.bus.call(*SYSTEMD, "StartUnit", "ss", [unit, "replace"])

    def stop(self, unit: str) -> None:
        self.bus.call(*SYSTEMD, "StopUnit", "ss", [unit, "replace"])
