"""A small synchronous client for the system bus (dbus-next underneath), with hard timeouts.

dbus-next is asyncio-based; lltune's commands are sequential, so each SystemBus owns a private
event loop and every call is bounded by a deadline. DBUS_SYSTEM_BUS_ADDRESS is honoured, which
is how the integration tests point it at a private bus.

dbus-next is imported in one place, import_dbus_next(): the system's copy when Python finds
one, else the copy the RPM bundles in VENDOR_DIR (RHEL 9, BaseOS/AppStream/CRB/EPEL 9, has no
python3-dbus-next; packaging/README.md).
"""

import asyncio
import contextlib
import os
import sys
from types import ModuleType
from typing import Any, Iterator, List, Optional, Sequence

from lltune.common.errors import EnvironmentProblem

SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1",
           "org.freedesktop.systemd1.Manager")
TUNED = ("com.redhat.tuned", "/Tuned", "com.redhat.tuned.control")
# Where lltune.spec installs its bundled dbus-next (%{_datadir}/lltune/vendor/dbus_next): a
# private directory outside site-packages, so no other program imports it by accident.
VENDOR_DIR = "/usr/share/lltune/vendor"


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


def import_dbus_next(vendor_dir: str = VENDOR_DIR) -> ModuleType:
    """The dbus_next package, with the submodules lltune uses (aio, constants) loaded.

    The system's copy (site-packages, a venv, PYTHONPATH) wins. Only when Python finds none is
    `vendor_dir` appended to sys.path, after every other entry, so the bundled copy never
    shadows one the administrator installed. BusUnavailable when neither imports."""
    try:
        import dbus_next
    except ImportError:
        # A copy that failed half-way may have left submodules behind: they are not the
        # bundled copy's.
        for name in [name for name in sys.modules if name.startswith("dbus_next.")]:
            del sys.modules[name]
        if not os.path.isdir(os.path.join(vendor_dir, "dbus_next")):
            raise BusUnavailable("the dbus-next Python package is not installed (nor bundled "
                                 "in %s)" % vendor_dir) from None
        if vendor_dir not in sys.path:
            sys.path.append(vendor_dir)
        try:
            import dbus_next
        except ImportError as exc:
            raise BusUnavailable("the bundled dbus-next in %s does not import: %s"
                                 % (vendor_dir, exc)) from None
    try:
        # What SystemBus and tuned.py use as dbus_next.aio and dbus_next.constants.
        import dbus_next.aio
        import dbus_next.constants
    except ImportError as exc:
        raise BusUnavailable("dbus-next in %s is incomplete: %s"
                             % (os.path.dirname(dbus_next.__file__ or "?"), exc)) from None
    return dbus_next


class SystemBus:
    """`with SystemBus() as bus: bus.call(*SYSTEMD, "GetUnit", "s", ["tuned.service"])`.

    Inside `with SystemBus.sharing():` every SystemBus borrows that block's connection (each
    keeps its own timeout): a command that scans and then applies connects once."""

    _shared: Optional["SystemBus"] = None

    def __init__(self, timeout: float = 5.0, address: Optional[str] = None):
        self.timeout = timeout
        self.address = address
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.bus: Any = None
        self.borrowed = False

    @classmethod
    @contextlib.contextmanager
    def sharing(cls) -> Iterator[None]:
        """One connection for the block. Without a bus nothing is shared: each SystemBus then
        fails on its own, with its own message."""
        if cls._shared is not None:
            yield  # an outer block shares already
            return
        try:
            shared = cls(timeout=3.0).__enter__()  # the scan's probes' bound
        except BusUnavailable:
            yield
            return
        cls._shared = shared
        try:
            yield
        finally:
            cls._shared = None
            shared.close()

    def __enter__(self) -> "SystemBus":
        shared = SystemBus._shared
        if shared is not None and self.address is None and shared.bus is not None:
            self.loop, self.bus, self.borrowed = shared.loop, shared.bus, True
            return self
        dbus_next = import_dbus_next()
        BusType, MessageBus = dbus_next.BusType, dbus_next.aio.MessageBus
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
        if self.borrowed:
            self.loop, self.bus, self.borrowed = None, None, False
            return
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

    def begin(self, awaitable: Any) -> "asyncio.Task[Any]":
        """Start bus work that waits on one daemon while the next run() waits on another;
        settle() it before anything that must come after it."""
        assert self.loop is not None
        return self.loop.create_task(awaitable)

    def settle(self, task: "asyncio.Task[Any]", wait: bool, timeout: float) -> Any:
        """Wait for begun work and return its result (its error raised), or with wait=False
        cancel it: what it already sent is still done by the peer, in the order sent."""
        assert self.loop is not None
        if wait:
            return self.run(task, timeout)
        task.cancel()
        with contextlib.suppress(BaseException):
            self.loop.run_until_complete(task)
        return None

    def call(self, destination: str, path: str, interface: str, member: str,
             signature: str = "", body: Sequence[Any] = (),
             timeout: Optional[float] = None, autostart: bool = True) -> List[Any]:
        """One method call; the reply's body as a list. autostart=False: a service that is
        not running stays so (D-Bus activation would otherwise start it)."""
        return self.run(self.call_async(destination, path, interface, member, signature, body,
                                        None, autostart), timeout)

    async def call_async(self, destination: str, path: str, interface: str, member: str,
                         signature: str = "", body: Sequence[Any] = (),
                         timeout: Optional[float] = None, autostart: bool = True) -> List[Any]:
        """call() as a coroutine (timeout: its own deadline, within the caller's)."""
        dbus_next = import_dbus_next()
        Message, MessageType = dbus_next.Message, dbus_next.MessageType
        MessageFlag = dbus_next.constants.MessageFlag

        message = Message(destination=destination, path=path, interface=interface,
                          member=member, signature=signature, body=list(body),
                          flags=MessageFlag.NONE if autostart else MessageFlag.NO_AUTOSTART)
        try:
            reply = await asyncio.wait_for(self.bus.call(message), timeout)
        except asyncio.TimeoutError:
            raise BusUnavailable("the system bus did not answer %s within %gs"
                                 % (member, timeout)) from None
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body else ""
            raise CallFailed(member, reply.error_name or "unknown error", str(text))
        return list(reply.body)
