"""A small synchronous client for the system bus (dbus-next underneath), with hard timeouts.

dbus-next is asyncio-based; lltune's commands are sequential, so each SystemBus owns a private
event loop and every call is bounded by a deadline. DBUS_SYSTEM_BUS_ADDRESS is honoured, which
is how the integration tests point it at a private bus.
"""

import asyncio
import contextlib
from typing import Any, List, Optional, Sequence

from lltune.common.errors import EnvironmentProblem

SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1",
           "org.freedesktop.systemd1.Manager")
TUNED = ("com.redhat.tuned", "/Tuned", "com.redhat.tuned.control")


class BusUnavailable(EnvironmentProblem):
    """No system bus, no dbus-next, or the bus did not answer in time."""


class CallFailed(EnvironmentProblem):
    """The peer answered with a D-Bus error (or is not on the bus)."""

    def __init__(self, member: str, name: str, text: str):
        lines = [line for line in text.strip().splitlines() if line.strip()]
        # Python services put a traceback in the error text: its last line is the error.
        super().__init__("D-Bus %s failed: %s: %s" % (member, name,
                                                      (lines[-1] if lines else "")[:200]))
        self.error_name = name


class SystemBus:
    """`with SystemBus() as bus: bus.call(*SYSTEMD, "GetUnit", "s", ["tuned.service"])`."""

    def __init__(self, timeout: float = 5.0, address: Optional[str] = None):
        self.timeout = timeout
        self.address = address
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.bus: Any = None

    def __enter__(self) -> "SystemBus":
        try:
            from dbus_next import BusType
            from dbus_next.aio import MessageBus
        except ImportError:
            raise BusUnavailable("the dbus-next Python package is not installed") from None
        self.loop = asyncio.new_event_loop()
        # dbus-next binds its futures to the current loop when the bus object is made.
        asyncio.set_event_loop(self.loop)

        async def connect() -> Any:
            if self.address:
                return await MessageBus(bus_address=self.address).connect()
            return await MessageBus(bus_type=BusType.SYSTEM).connect()

        try:
            self.bus = self.run(connect())
        except BusUnavailable:
            self.close()
            raise
        except Exception as exc:  # dbus-next raises OSError, ValueError or its own errors
            self.close()
            raise BusUnavailable("cannot connect to the system bus: %s"
                                 % (exc or type(exc).__name__)) from None
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self.bus is not None:
            # A bus that is already gone needs no goodbye.
            with contextlib.suppress(Exception):
                self.bus.disconnect()
            self.bus = None
        if self.loop is not None:
            self.loop.close()
            asyncio.set_event_loop(None)
            self.loop = None

    def run(self, awaitable: Any, timeout: Optional[float] = None) -> Any:
        """Run a coroutine on this bus's loop with a deadline."""
        assert self.loop is not None
        task = self.loop.create_task(asyncio.wait_for(awaitable, timeout or self.timeout))
        try:
            return self.loop.run_until_complete(task)
        except KeyboardInterrupt:
            # Cancelled and finished here, so its cleanup (signal handlers, match rules) runs
            # and the loop does not later complain about a pending task.
            task.cancel()
            with contextlib.suppress(BaseException):
                self.loop.run_until_complete(task)
            raise
        except asyncio.TimeoutError:
            raise BusUnavailable("the system bus did not answer within %gs"
                                 % (timeout or self.timeout)) from None

    def call(self, destination: str, path: str, interface: str, member: str,
             signature: str = "", body: Sequence[Any] = (),
             timeout: Optional[float] = None, autostart: bool = True) -> List[Any]:
        """One method call; the reply's body as a list. autostart=False: a service that is
        not running stays so (D-Bus activation would otherwise start it)."""
        from dbus_next import Message, MessageType
        from dbus_next.constants import MessageFlag

        message = Message(destination=destination, path=path, interface=interface,
                          member=member, signature=signature, body=list(body),
                          flags=MessageFlag.NONE if autostart else MessageFlag.NO_AUTOSTART)
        reply = self.run(self.bus.call(message), timeout)
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body else ""
            raise CallFailed(member, reply.error_name or "unknown error", str(text))
        return list(reply.body)
