"""systemd's Manager API over the system bus: the unit calls lltune makes for its own units."""

from typing import List, Optional

from lltune.system.dbus import SYSTEMD, CallFailed, SystemBus

# Unit-file changes and a daemon reload can take systemd tens of seconds on a loaded host (seen:
# more than 5 s in a busy guest); systemctl itself waits 25 s for a reply by default and
# daemon-reload longer. The calls change nothing when repeated, so a late answer is only late.
CHANGE_TIMEOUT = 90.0


class Systemd:
    """The bits of org.freedesktop.systemd1.Manager lltune needs for its own units."""

    def __init__(self, bus: SystemBus):
        self.bus = bus

    def unit_file_state(self, unit: str) -> Optional[str]:
        try:
            return str(self.bus.call(*SYSTEMD, "GetUnitFileState", "s", [unit])[0])
        except CallFailed:
            return None

    async def enabling(self, units: List[str]) -> None:
        """EnableUnitFiles and the reload `systemctl enable` does, as a coroutine: apply
        runs it while tuned applies the profile (SystemBus.begin)."""
        await self.bus.call_async(*SYSTEMD, "EnableUnitFiles", "asbb", [units, False, False],
                                  timeout=CHANGE_TIMEOUT)
        await self.bus.call_async(*SYSTEMD, "Reload", timeout=CHANGE_TIMEOUT)

    def disable(self, units: List[str]) -> None:
        self.bus.call(*SYSTEMD, "DisableUnitFiles", "asb", [units, False],
                      timeout=CHANGE_TIMEOUT)
        self.bus.call(*SYSTEMD, "Reload", timeout=CHANGE_TIMEOUT)

    def start(self, unit: str) -> None:
        self.bus.call(*SYSTEMD, "StartUnit", "ss", [unit, "replace"], timeout=CHANGE_TIMEOUT)

    def stop(self, unit: str) -> None:
        self.bus.call(*SYSTEMD, "StopUnit", "ss", [unit, "replace"], timeout=CHANGE_TIMEOUT)
