"""tuned over the system bus: the only way lltune changes what tuned runs.

tuned's API (tuned/exports/dbus_exporter.py) answers an unauthorised call with falsy values
instead of an error, and switch_profile returns as soon as the profile is *loaded*: the result
of applying it arrives later as the profile_changed signal. Both are handled here so callers
see one exception with the reason.
"""

import asyncio
import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.errors import EnvironmentProblem, HostError
from lltune.system.dbus import TUNED, CallFailed, SystemBus, import_dbus_next

DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
TUNED_APPLY_TIMEOUT = 600.0  # what tuned-adm itself waits for a profile switch
# How long one control call may take. tuned answers from the thread that also applies
# profiles: a busy or loaded host has been seen to take more than 5 s for is_running.
CALL_TIMEOUT = 30.0
_LOG_LEVEL_INFO = 20  # Python logging levels, as tuned's log_capture_start takes them


# tuned's verify of the [bootloader] plugin compares /proc/cmdline, so until the next boot it
# reports the new parameters as missing ("verify: failed: cmdline arg 'x' is missing, expected
# 'x=1'", tuned/consts.py STR_VERIFY_PROFILE_CMDLINE_FAIL*): expected, not drift.
_PENDING_REBOOT = "cmdline arg"


_HOOK_LINE = re.compile(r"lltune-hook (start|stop|verify): ")


def unexpected_failures(log: str) -> List[str]:
    """The failure lines of a captured verify log other than reboot-pending cmdline ones,
    with the hook's own lines (tuned logs a script's stderr as one multi-line record)."""
    return [line.strip() for line in log.splitlines()
            if ("ERROR" in line or "failed" in line.lower() or _HOOK_LINE.search(line))
            and _PENDING_REBOOT not in line]


def verify_failures(passed: bool, log: str) -> List[str]:
    """Why tuned's verify failed; empty when it passed or when only kernel parameters that
    wait for a reboot are missing. A failure that logged nothing still counts as one."""
    if passed:
        return []
    failures = unexpected_failures(log)
    if failures or _PENDING_REBOOT in log:
        return failures
    return ["tuned's verify failed and logged no reason (see tuned's log)"]


class TunedError(HostError):
    """tuned refused or failed to do what was asked."""


class Tuned:
    """A connection to tuned (com.redhat.tuned) on the system bus."""

    def __init__(self, bus: SystemBus, apply_timeout: float = TUNED_APPLY_TIMEOUT):
        self.bus = bus
        self.apply_timeout = apply_timeout

    def _call(self, member: str, signature: str = "", body: Tuple[Any, ...] = (),
              timeout: Optional[float] = None) -> Any:
        try:
            # Never start tuned by calling it: a stopped tuned is the admin's decision.
            reply = self.bus.call(*TUNED, member, signature, body,
                                  timeout=timeout or CALL_TIMEOUT, autostart=False)
        except CallFailed as exc:
            if "ServiceUnknown" in exc.error_name or "NameHasNoOwner" in exc.error_name:
                raise EnvironmentProblem("tuned is not running (com.redhat.tuned is not on "
                                         "the system bus): systemctl start tuned") from None
            raise
        return reply[0] if len(reply) == 1 else reply

    def is_running(self) -> bool:
        return bool(self._call("is_running"))

    def active_profile(self) -> str:
        return str(self._call("active_profile"))

    def profile_mode(self) -> Tuple[str, str]:
        mode, error = self._call("profile_mode")
        return str(mode), str(error)

    def profiles(self) -> List[str]:
        return [str(name) for name in self._call("profiles")]

    def plugins(self) -> Dict[str, Dict[str, str]]:
        """plugin -> {option: default}: what this tuned can do."""
        return {str(k): dict(v) for k, v in dict(self._call("get_all_plugins")).items()}

    def verify(self) -> Tuple[bool, str]:
        """verify_profile_ignore_missing with tuned's log captured: (passed, what it logged).

        ignore_missing: tuned's [scheduler] cannot move managed IRQs (the kernel refuses), and
        plain verify_profile fails on them forever; absent devices are not drift either.
        """
        token = self._call("log_capture_start", "ii", (_LOG_LEVEL_INFO, 60))
        try:
            passed = bool(self._call("verify_profile_ignore_missing", timeout=120.0))
        finally:
            log = self._call("log_capture_finish", "s", (token,)) if token else ""
        return passed, str(log or "")

    def disable(self) -> None:
        if not self._call("disable"):
            raise TunedError("tuned refused to switch off (unauthorised? run as root)")

    def recommended_profile(self) -> str:
        return str(self._call("recommend_profile"))

    def switch(self, profile: str, auto: bool = False) -> None:
        """Switch to `profile` and wait until tuned has applied it (profile_changed).

        auto: through auto_profile, which puts tuned back in automatic selection; tuned then
        applies its recommended profile, which the caller has checked is `profile`."""
        timeout = self.apply_timeout
        # After `tuned-adm off` switch_profile only loads the profile; start() applies it,
        # as tuned-adm does.
        start_after = not self.is_running()
        call = ("auto_profile", "", []) if auto else ("switch_profile", "s", [profile])
        self.bus.run(self._switch(profile, call, timeout, start_after), timeout + 10)

    async def _switch(self, profile: str, call: Tuple[str, str, List[Any]], timeout: float,
                      start_after: bool) -> None:
        dbus_next = import_dbus_next()
        Message, MessageType = dbus_next.Message, dbus_next.MessageType
        MessageFlag = dbus_next.constants.MessageFlag

        bus = self.bus.bus
        loop = asyncio.get_event_loop()
        outcome: asyncio.Future[Tuple[bool, str]] = loop.create_future()

        def on_message(message: Message) -> None:
            if message.message_type != MessageType.SIGNAL or outcome.done():
                return
            if message.interface == TUNED[2] and message.member == "profile_changed":
                names, ok, error = message.body
                # auto_profile: tuned picks the profile itself, so the first result is ours.
                if call[0] == "auto_profile" or names.split() == profile.split():
                    outcome.set_result((bool(ok), str(error)))
            elif message.member == "NameOwnerChanged" and message.body[0] == TUNED[0] \
                    and not message.body[2]:
                outcome.set_result((False, "tuned left the system bus while applying"))

        bus.add_message_handler(on_message)
        try:
            for rule in ("type='signal',interface='%s',member='profile_changed'" % TUNED[2],
                         "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
                         "arg0='%s'" % TUNED[0]):
                await bus.call(Message(destination=DBUS[0], path=DBUS[1], interface=DBUS[2],
                                       member="AddMatch", signature="s", body=[rule]))
            member, signature, body = call
            reply = await bus.call(Message(destination=TUNED[0], path=TUNED[1],
                                           interface=TUNED[2], member=member,
                                           signature=signature, body=body,
                                           flags=MessageFlag.NO_AUTOSTART))
            if reply.message_type == MessageType.ERROR:
                raise TunedError("tuned %s failed: %s: %s"
                                 % (member, reply.error_name, reply.body[0] if reply.body else ""))
            ok, message = reply.body[0]
            if not ok:
                raise TunedError("tuned refused profile %s: %s" % (profile, message))
            if start_after:
                started = await bus.call(Message(destination=TUNED[0], path=TUNED[1],
                                                 interface=TUNED[2], member="start",
                                                 flags=MessageFlag.NO_AUTOSTART))
                if started.message_type == MessageType.ERROR or not started.body[0]:
                    raise TunedError("tuned loaded %s but would not start it" % profile)
            try:
                ok, error = await asyncio.wait_for(outcome, timeout)
            except asyncio.TimeoutError:
                raise TunedError("tuned did not finish applying %s within %gs"
                                 % (profile, timeout)) from None
            if not ok:
                raise TunedError("tuned could not apply %s: %s" % (profile, error or
                                                                   "see the journal"))
        finally:
            bus.remove_message_handler(on_message)
