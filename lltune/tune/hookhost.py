"""The hook's host work: NIC coalescing (tuned 2.20 cannot: issue #726), sysctls a site file
would win, swap, the limits.d file, the services' limits drop-ins, and the PTP daemons: their
sysconfig files, then the daemons themselves."""

import os
import re
import subprocess
from typing import Any, Dict, List

from lltune.common.errors import LLTuneError
from lltune.common.files import atomic_write
from lltune.config.knobs import (
    IFNAME_PATTERN,
    LIMIT_DOMAIN_PATTERN,
    OPTIONS_PATTERN,
    SERVICE_UNIT_PATTERN,
    SYSCTL_NAME_PATTERN,
    SYSCTL_VALUE_PATTERN,
)
from lltune.tune.hookbase import COMMAND_TIMEOUT, HookBase, HookError

LIMITS_FILE = "/etc/security/limits.d/99-lltune.conf"
PTP_FILES = {"ptp4l": "/etc/sysconfig/ptp4l", "phc2sys": "/etc/sysconfig/phc2sys"}
PTP_UNITS = ("ptp4l.service", "phc2sys.service")  # phc2sys reads the clock ptp4l disciplines
RESTORABLE = frozenset([LIMITS_FILE] + list(PTP_FILES.values()))  # what stop may write back
UNIT_DIR = "/etc/systemd/system"
DROPIN_NAME = "99-lltune-limits.conf"
SYSTEMD_LIMITS = (("memlock", "LimitMEMLOCK"), ("rtprio", "LimitRTPRIO"),
                  ("nofile", "LimitNOFILE"))


def dropin_path(unit: str) -> str:
    if not re.match(SERVICE_UNIT_PATTERN, unit):
        raise HookError("bad service name %r" % unit)
    return "%s/%s.d/%s" % (UNIT_DIR, unit, DROPIN_NAME)


def restorable(path: str) -> bool:
    """Only the files the hook writes: a saved record naming anything else is refused."""
    if path in RESTORABLE:
        return True
    directory, name = os.path.split(path)
    unit = os.path.basename(directory)[:-len(".d")]
    return name == DROPIN_NAME and os.path.dirname(directory) == UNIT_DIR and \
        directory.endswith(".d") and re.match(SERVICE_UNIT_PATTERN, unit) is not None


class HostWork(HookBase):
    # -- NIC coalescing (tuned 2.20's [net] coalesce= cannot: tuned issue #726) --------------
    def current_coalesce(self, interface: str) -> Dict[str, Any]:
        from lltune.host import ethtool
        from lltune.host.reader import Missing

        if not re.match(IFNAME_PATTERN, interface):
            raise HookError("bad interface name %r" % interface)
        try:
            return ethtool.coalesce(interface)
        except Missing as exc:
            raise HookError("%s: cannot read coalescing: %s" % (interface, exc.reason)) from None

    def set_coalesce(self, interface: str, settings: Dict[str, Any]) -> None:
        from lltune.tune.render import ethtool_words

        words = ethtool_words(settings)
        if not all(re.match(r"^[a-z0-9-]{1,32}$", word) for word in words):
            raise HookError("bad coalesce settings for %s" % interface)
        # ethtool exits 80 when the driver already has these values.
        self.run(["ethtool", "-C", interface] + words, ok_codes=(0, 80))

    def start_coalesce(self, data: Dict[str, Any]) -> None:
        saved = self.saved("coalesce") or {}
        for entry in data.get("coalesce") or []:
            interface = entry["interface"]
            if interface not in saved:
                current = self.current_coalesce(interface)
                saved[interface] = {key: current.get(key) for key in entry["settings"]}
        self.save("coalesce", saved)
        for entry in data.get("coalesce") or []:
            self.set_coalesce(entry["interface"], entry["settings"])

    def stop_coalesce(self) -> List[str]:
        failed, problems = {}, []
        for interface, settings in sorted((self.saved("coalesce") or {}).items()):
            known = {k: v for k, v in settings.items() if v is not None}
            if known and self.reader.realpath("/sys/class/net/%s" % interface):
                try:
                    self.set_coalesce(interface, known)
                except HookError as exc:
                    failed[interface] = settings
                    problems.append(str(exc))
        return self._keep_failed("coalesce", failed, problems)

    def verify_coalesce(self, data: Dict[str, Any]) -> List[str]:
        problems = []
        for entry in data.get("coalesce") or []:
            current = self.current_coalesce(entry["interface"])
            for key, wanted in sorted(entry["settings"].items()):
                if current.get(key) != wanted:
                    problems.append("%s %s is %s, wanted %s" % (entry["interface"], key,
                                                               current.get(key), wanted))
        return problems

    # -- sysctls a site file would win (tuned re-applies /etc/sysctl.d after [sysctl]) ------
    def _sysctl_path(self, name: str) -> str:
        if not re.match(SYSCTL_NAME_PATTERN, name):
            raise HookError("bad sysctl name %r" % name)
        return "/proc/sys/" + name.replace(".", "/")

    def start_sysctls(self, data: Dict[str, Any]) -> None:
        wanted = data.get("sysctls") or {}
        saved = self.saved("sysctls") or {}
        for name in sorted(wanted):
            if name not in saved:  # the value from before the first start
                saved[name] = self.reader.value(self._sysctl_path(name))
        self.save("sysctls", saved)
        for name, value in sorted(wanted.items()):
            self._write_sysctl(name, str(value))

    def check_sysctls(self, data: Dict[str, Any]) -> None:
        for name, value in (data.get("sysctls") or {}).items():
            self._sysctl_path(name)
            self._sysctl_value(name, str(value))

    @staticmethod
    def _sysctl_value(name: str, value: str) -> str:
        if not re.match(SYSCTL_VALUE_PATTERN, value):
            raise HookError("bad value %r for sysctl %s" % (value, name))
        return value

    def _write_sysctl(self, name: str, value: str) -> None:
        self._sysctl_value(name, value)
        with open(self.path(self._sysctl_path(name)), "w") as handle:
            handle.write(value + "\n")

    def stop_sysctls(self) -> List[str]:
        failed, problems = {}, []
        for name, value in sorted((self.saved("sysctls") or {}).items()):
            if value is None:
                continue
            try:
                self._write_sysctl(name, value)
            except (HookError, OSError) as exc:
                failed[name] = value
                problems.append("sysctl %s: %s" % (name, exc))
        return self._keep_failed("sysctls", failed, problems)

    def verify_sysctls(self, data: Dict[str, Any]) -> List[str]:
        problems = []
        for name, wanted in sorted((data.get("sysctls") or {}).items()):
            current = self.reader.value(self._sysctl_path(name))
            if current is not None and " ".join(current.split()) != " ".join(str(
                    wanted).split()):
                problems.append("sysctl %s is %s, wanted %s" % (name, current, wanted))
        return problems

    # -- swap ------------------------------------------------------------------------------
    def swap_devices(self) -> List[str]:
        lines = (self.reader.read("/proc/swaps", "") or "").splitlines()[1:]
        return [line.split()[0] for line in lines if line.split()]

    def start_swap(self, data: Dict[str, Any]) -> None:
        if data.get("swap") != "off":
            return
        devices = self.swap_devices()
        if devices:
            self.save("swap", sorted(set(devices) | set(self.saved("swap") or [])))
            for device in devices:
                self.run(["swapoff", device])

    def stop_swap(self) -> List[str]:
        failed, problems = [], []
        for device in self.saved("swap") or []:
            if device not in self.swap_devices():
                try:
                    self.run(["swapon", device])
                except HookError as exc:
                    failed.append(device)
                    problems.append(str(exc))
        return self._keep_failed("swap", failed, problems)

    # -- limits ----------------------------------------------------------------------------
    @staticmethod
    def limit_value(item: str, value: Any) -> str:
        text = str(value)
        if not re.match(r"^(unlimited|[0-9]{1,16})$", text):
            raise HookError("bad %s value %r" % (item, text))
        return text

    @classmethod
    def limits_text(cls, limits: List[Dict[str, Any]]) -> str:
        lines = ["# Written by the lltune tuned hook; removed when the lltune profile is "
                 "switched off."]
        for entry in limits:
            domain = entry["domain"]
            if not re.match(LIMIT_DOMAIN_PATTERN, domain):
                raise HookError("bad limits domain %r" % domain)
            lines += ["%s - %s %s" % (domain, item, cls.limit_value(item, entry[item]))
                      for item, _ in SYSTEMD_LIMITS if item in entry]
        return "\n".join(lines) + "\n"

    @classmethod
    def dropin_texts(cls, limits: List[Dict[str, Any]]) -> Dict[str, str]:
        """systemd services never pass through pam_limits: each named unit gets its entry's
        values as Limit*= in a drop-in (systemd spells unlimited "infinity")."""
        lines: Dict[str, List[str]] = {}
        for entry in limits:
            for unit in entry.get("units") or []:
                body = lines.setdefault(dropin_path(unit), [
                    "# Written by the lltune tuned hook for %s; removed when the lltune "
                    "profile is switched off." % unit, "[Service]"])
                for item, key in SYSTEMD_LIMITS:
                    if item in entry:
                        value = cls.limit_value(item, entry[item])
                        body.append("%s=%s" % (key, "infinity" if value == "unlimited"
                                               else value))
        return {path: "\n".join(body) + "\n" for path, body in lines.items()}

    def start_limits(self, data: Dict[str, Any]) -> None:
        if not data.get("limits"):
            return
        self._save_file_once("limits-file", LIMITS_FILE)
        self.write(LIMITS_FILE, self.limits_text(data["limits"]))
        changed = False
        for path, text in sorted(self.dropin_texts(data["limits"]).items()):
            self._dropin_dir(path)
            self._save_file_once("dropin-" + os.path.basename(os.path.dirname(path)), path)
            if self.reader.read(path, None) != text:
                self.write(path, text)
                changed = True
        if changed:
            self.reload_systemd()

    def _dropin_dir(self, path: str) -> None:
        """The unit's .d directory, created when absent (and recorded, so stop removes it);
        a link or anything but a directory there is refused, not followed."""
        directory = self.path(os.path.dirname(path))
        if not os.path.lexists(directory):
            try:
                os.mkdir(directory, 0o755)
            except OSError as exc:
                raise HookError("cannot create %s: %s" % (os.path.dirname(path),
                                                          exc.strerror)) from None
            self.save("created-" + os.path.basename(directory), {"path": os.path.dirname(path)})
        elif not os.path.isdir(directory) or os.path.islink(directory):
            raise HookError("%s is not a directory; refusing to write a drop-in through it"
                            % os.path.dirname(path))

    def reload_systemd(self) -> None:
        if self.runs_this_root():
            self.run(["systemctl", "daemon-reload"])

    # -- PTP -------------------------------------------------------------------------------
    @staticmethod
    def ptp_texts(ptp: Dict[str, Any]) -> Dict[str, str]:
        interface = ptp["interface"]
        if not re.match(IFNAME_PATTERN, interface):
            raise HookError("bad PTP interface %r" % interface)
        options = {"ptp4l": "-f /etc/ptp4l.conf -i %s %s" % (interface,
                                                             ptp.get("ptp4l_options", "")),
                   "phc2sys": ptp.get("phc2sys_options") or "-a -r"}
        texts = {}
        for daemon, value in options.items():
            value = " ".join(value.split())
            if not re.match(OPTIONS_PATTERN, value):
                raise HookError("bad %s options %r" % (daemon, value))
            texts[PTP_FILES[daemon]] = 'OPTIONS="%s"\n' % value
        return texts

    def start_ptp(self, data: Dict[str, Any]) -> None:
        ptp = data.get("ptp")
        if not ptp:
            return
        changed = False
        for path, text in sorted(self.ptp_texts(ptp).items()):
            self._save_file_once("file-" + os.path.basename(path), path)
            if self.reader.read(path, None) != text:
                self.write(path, text)
                changed = True
        if ptp.get("manage_services", True):
            self.start_ptp_services(changed)

    # The daemons are started here, once their options are written, not by tuned's [service]:
    # it runs before the hook, and tuned (2.20 to 2.28 at least) keeps the services of one
    # [service] instance only (plugin_service.py sets self._services per instance), so a
    # second instance ordered after the hook took irqbalance and stalld away from the first.
    def runs_this_root(self) -> bool:
        """Whether the running systemd is the one of the root the hook works on (not so over
        a root prefix: an image being built)."""
        return self.root == "/"

    def systemctl(self, *args: str) -> int:
        """systemctl's exit status (the running systemd: never over a root prefix)."""
        try:
            return subprocess.run(("systemctl",) + args, capture_output=True, check=False,
                                  timeout=COMMAND_TIMEOUT).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HookError("systemctl %s: %s" % (" ".join(args), exc)) from None

    def _unit(self, verb: str, unit: str) -> None:
        if self.systemctl(verb, unit) != 0:
            raise HookError("systemctl %s %s failed" % (verb, unit))

    def _restart(self, unit: str) -> None:
        """At boot only queued: ptp4l orders after network-online.target, which a blocking
        restart from inside tuned's start would wait for (and the enabled unit starts in the
        boot's own transaction anyway)."""
        booting = self.systemctl("is-active", "--quiet", "default.target") != 0
        if self.systemctl(*(("restart", "--no-block", unit) if booting else
                            ("restart", unit))) != 0:
            raise HookError("systemctl restart %s failed" % unit)

    def start_ptp_services(self, options_changed: bool) -> None:
        if not self.runs_this_root():
            # An image being built: its daemons are not running, and a state recorded here
            # would be restored on the booted host as if it had been.
            self.notes.append("PTP daemons left to the booted host (root %s)" % self.root)
            return
        active = {unit: self.systemctl("is-active", "--quiet", unit) == 0 for unit in PTP_UNITS}
        if self.saved("ptp-services") is None:
            self.save("ptp-services", {unit: {
                "active": active[unit],
                "enabled": self.systemctl("is-enabled", "--quiet", unit) == 0}
                for unit in PTP_UNITS})
        for unit in PTP_UNITS:
            self._unit("enable", unit)
            # A restart (tuned restarting, the boot) with the same options leaves them be.
            if options_changed or not active[unit]:
                self._restart(unit)

    def stop_ptp_services(self) -> List[str]:
        """After the option files are back: each daemon as it was, on its own options."""
        record = self.saved("ptp-services")
        if record is None:
            return []
        problems = []
        for unit in reversed(PTP_UNITS):
            was = record.get(unit) if isinstance(record, dict) else None
            if not isinstance(was, dict):
                problems.append("ptp-services: no saved state for %s" % unit)
                continue
            try:
                if was.get("active"):
                    self._restart(unit)
                else:
                    self._unit("stop", unit)
                self._unit("enable" if was.get("enabled") else "disable", unit)
            except HookError as exc:
                problems.append(str(exc))
        if not problems:
            self.forget("ptp-services")
        return problems

    def verify_ptp_services(self, data: Dict[str, Any]) -> List[str]:
        ptp = data.get("ptp")
        if not ptp or not ptp.get("manage_services", True) or not self.runs_this_root():
            return []
        return ["%s is not running" % unit for unit in PTP_UNITS
                if self.systemctl("is-active", "--quiet", unit) != 0]

    # -- files we replace ------------------------------------------------------------------
    def restore_files(self) -> List[str]:
        directory = self._state_dir(create=False)
        names = sorted(os.listdir(directory)) if directory else []
        problems, dropins = [], False
        for name in names:
            if not (name.startswith(("file-", "dropin-")) or name == "limits-file.json"):
                continue
            # A file that cannot be restored keeps its saved copy for the next stop.
            try:
                record = self.saved(name[:-len(".json")])
                if record is None:
                    continue  # another stop restored it a moment ago
                if not restorable(record["path"]):
                    raise HookError("saved record names %r, not a file the hook writes"
                                    % (record["path"],))
                target = self.path(record["path"])
                if record["content"] is None:
                    if os.path.lexists(target):
                        os.unlink(target)
                else:
                    atomic_write(target, record["content"].encode(), 0o644)
                self.forget(name[:-len(".json")])
                dropins = dropins or name.startswith("dropin-")
            except (HookError, LLTuneError, OSError, KeyError, TypeError) as exc:
                problems.append("%s: %s" % (name, exc))
        problems += self.remove_created_dirs(names)
        if dropins:
            try:
                self.reload_systemd()
            except HookError as exc:
                problems.append(str(exc))
        return problems

    def remove_created_dirs(self, names: List[str]) -> List[str]:
        problems = []
        for name in (n for n in names if n.startswith("created-")):
            try:
                record = self.saved(name[:-len(".json")])
                if record is None:
                    continue
                directory = record["path"]
                if not restorable(os.path.join(directory, DROPIN_NAME)):
                    raise HookError("saved record names %r, not a directory the hook makes"
                                    % (directory,))
                target = self.path(directory)
                if os.path.isdir(target) and not os.path.islink(target) and \
                        not os.listdir(target):
                    os.rmdir(target)
                self.forget(name[:-len(".json")])
            except (HookError, LLTuneError, OSError, KeyError, TypeError) as exc:
                problems.append("%s: %s" % (name, exc))
        return problems

    def verify_files(self, data: Dict[str, Any]) -> List[str]:
        wanted = {}
        if data.get("limits"):
            wanted[LIMITS_FILE] = self.limits_text(data["limits"])
            wanted.update(self.dropin_texts(data["limits"]))
        if data.get("ptp"):
            wanted.update(self.ptp_texts(data["ptp"]))
        return ["%s differs from what lltune wrote" % path for path, text in wanted.items()
                if self.reader.read(path, None) != text]
