"""A private, system-like D-Bus for integration tests, and mocks on it.

Nothing here touches the machine's own buses: :class:`PrivateBus` runs its own
``dbus-daemon`` (a system-type configuration that lets anybody own and call anything) on a
socket in a fresh temporary directory, and the fixtures point ``DBUS_SYSTEM_BUS_ADDRESS``
at it for the duration of one test.

Mocks are python-dbusmock servers (``python -m dbusmock --system -t TEMPLATE``): the stock
``systemd`` template and our ``tuned_template.py``. They need dbus-python and PyGObject
(``gi``); the test process does not: :func:`mock_python` finds an interpreter that has them
(``$LLTUNE_DBUSMOCK_PYTHON``, this one, or Debian's /usr/bin/python3 with python3-gi and
python3-dbus, borrowing this environment's dbusmock package when Debian has none), so the
tests run under any Python, 3.9 included.

Clients (:class:`BusClient`) use dbus-next 0.2.3 when it is importable, else ``busctl``.
Every call and every wait has a deadline; waiting for a signal is real waiting (the bus
delivers it or the deadline passes), never a sleep.
"""

import asyncio
import atexit
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
TUNED_TEMPLATE = str(HERE / "tuned_template.py")
TUNED = ("com.redhat.tuned", "/Tuned", "com.redhat.tuned.control")
TUNED_TEST_IFACE = "org.lltune.test.TunedMock"
SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1",
           "org.freedesktop.systemd1.Manager")
MOCK_IFACE = "org.freedesktop.DBus.Mock"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


class BusRigUnavailable(RuntimeError):
    """This host lacks something the private-bus tests need (the message says what)."""


class CallError(RuntimeError):
    """A D-Bus call answered with an error."""

    def __init__(self, name: str, text: str):
        super().__init__("%s: %s" % (name, text))
        self.error_name = name


# -- which Python runs the mocks ---------------------------------------------------------

_MOCK_PYTHON = {}  # type: Dict[str, Tuple[str, Dict[str, str]]]
_PROBE = "import dbus, dbusmock, dbus.mainloop.glib; from gi.repository import GLib"


def _works(python: str, env: Dict[str, str]) -> bool:
    try:
        return subprocess.run([python, "-c", _PROBE], env=dict(os.environ, **env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _lend_packages(names: List[str]) -> Optional[str]:
    """A temporary directory holding links to just these modules of this environment
    (for another interpreter's PYTHONPATH), or None if one of them is missing."""
    found = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            return None
        origin = Path(spec.origin)
        found.append(origin.parent if origin.name == "__init__.py" else origin)
    lend = Path(tempfile.mkdtemp(prefix="lltune-dbusmock-path-"))
    atexit.register(shutil.rmtree, str(lend), True)
    for path in found:
        (lend / path.name).symlink_to(path)
    return str(lend)


def mock_python() -> Tuple[str, Dict[str, str]]:
    """(interpreter, extra environment) able to run python-dbusmock with its templates.

    Tried in order: $LLTUNE_DBUSMOCK_PYTHON; this interpreter; /usr/bin/python3 as it is;
    /usr/bin/python3 with this environment's (pure-Python) dbusmock package lent to it (it
    has gi from python3-gi); the same plus this environment's dbus-python."""
    if "v" in _MOCK_PYTHON:
        return _MOCK_PYTHON["v"]
    candidates = []  # type: List[Tuple[str, Dict[str, str]]]
    forced = os.environ.get("LLTUNE_DBUSMOCK_PYTHON")
    if forced:
        candidates.append((forced, {}))
    else:
        candidates.append((sys.executable, {}))
        if Path("/usr/bin/python3").exists():
            candidates.append(("/usr/bin/python3", {}))
            lent = _lend_packages(["dbusmock"])
            if lent:
                candidates.append(("/usr/bin/python3", {"PYTHONPATH": lent}))
            # Without Debian's python3-dbus: lend this environment's dbus-python too (it
            # works where both Pythons share the ABI; the probe below tells).
            lent = _lend_packages(["dbusmock", "dbus", "_dbus_bindings", "_dbus_glib_bindings"])
            if lent:
                candidates.append(("/usr/bin/python3", {"PYTHONPATH": lent}))
    for python, env in candidates:
        if _works(python, env):
            _MOCK_PYTHON["v"] = (python, env)
            return python, env
    raise BusRigUnavailable(
        "no Python here can run python-dbusmock's mocks (they need dbus-python and "
        "PyGObject): `pip install python-dbusmock` plus `apt-get install python3-gi "
        "python3-dbus`, or set LLTUNE_DBUSMOCK_PYTHON")


# -- the bus ---------------------------------------------------------------------------------

class PrivateBus:
    """A dbus-daemon of our own; `address` is what DBUS_SYSTEM_BUS_ADDRESS should say."""

    def __init__(self):
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise BusRigUnavailable("dbus-daemon is missing (apt-get install dbus-daemon)")
        self.dir = Path(tempfile.mkdtemp(prefix="lltune-bus-"))
        self.socket = self.dir / "system_bus_socket"
        self.address = "unix:path=%s" % self.socket
        config = self.dir / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.socket))
        self.proc = subprocess.Popen(
            [daemon, "--config-file=%s" % config, "--nofork", "--nopidfile",
             "--print-address=1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.mocks = []  # type: List[MockService]
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError("the private dbus-daemon did not start within 20 s")

    def spawn(self, template: str, parameters: Optional[dict] = None,
              name: Optional[str] = None, path: Optional[str] = None,
              deadline: float = 30.0) -> "MockService":
        """Start a dbusmock server with `template` and wait until it owns its name."""
        python, env = mock_python()
        module_name = {"systemd": SYSTEMD[0]}.get(template)
        bus_name = name or module_name or _template_attr(template, "BUS_NAME")
        obj_path = path or ({"systemd": SYSTEMD[1]}.get(template)
                            or _template_attr(template, "MAIN_OBJ"))
        log = self.dir / ("mock-%d.log" % len(self.mocks))
        cmd = [python, "-m", "dbusmock", "--system", "-t", template]
        if parameters:
            cmd += ["-p", json.dumps(parameters)]
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, **env))
        mock = MockService(self, proc, bus_name, obj_path, log)
        self.mocks.append(mock)
        with BusClient(self.address) as client:
            end = time.monotonic() + deadline
            while not client.name_has_owner(bus_name):
                if proc.poll() is not None:
                    raise RuntimeError("dbusmock %s exited with %s:\n%s"
                                       % (template, proc.returncode, mock.log_text()))
                if time.monotonic() > end:
                    mock.kill()
                    raise RuntimeError("dbusmock %s did not own %s within %.0f s:\n%s"
                                       % (template, bus_name, deadline, mock.log_text()))
                client.wait_name_change(bus_name, 0.2)
        return mock

    def stop(self) -> None:
        for mock in self.mocks:
            mock.kill()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _template_attr(template: str, attr: str) -> str:
    """BUS_NAME / MAIN_OBJ of a template file, read without importing it (it imports gi)."""
    for line in Path(template).read_text().splitlines():
        if line.startswith(attr + " ="):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise ValueError("%s has no %s" % (template, attr))


class MockService:
    """One dbusmock server process on the private bus."""

    def __init__(self, bus: PrivateBus, proc: subprocess.Popen, name: str, path: str,
                 log: Path):
        self.bus = bus
        self.proc = proc
        self.name = name
        self.path = path
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_exit(self, timeout: float) -> Optional[int]:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait_exit(10) is None:
                self.proc.kill()
                self.proc.wait(10)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def call(self, interface: str, member: str, signature: str = "", args: Any = (),
             timeout: float = 10.0) -> List[Any]:
        with BusClient(self.bus.address) as client:
            return client.call(self.name, self.path, interface, member, signature, args,
                               timeout)


# -- clients ---------------------------------------------------------------------------------

def have_dbus_next() -> bool:
    return importlib.util.find_spec("dbus_next") is not None


class BusClient:
    """Synchronous D-Bus client with deadlines: dbus-next underneath, else busctl.

    ``with BusClient(address) as c: c.call(dest, path, iface, member, "s", ["x"])`` returns
    the reply's body as a list. ``c.subscribe(iface, member)`` then ``c.wait_signal(...)``
    receives signals sent after the subscription."""

    def __init__(self, address: str, backend: Optional[str] = None):
        self.address = address
        self.backend = backend or ("dbus-next" if have_dbus_next() else "busctl")
        self._loop = None  # type: Optional[asyncio.AbstractEventLoop]
        self._bus = None  # type: Any
        self._signals = []  # type: List[Tuple[str, str, str, List[Any]]]
        self._monitors = []  # type: List[subprocess.Popen]
        if self.backend == "busctl" and shutil.which("busctl") is None:
            raise BusRigUnavailable("neither dbus-next nor busctl is available")

    def __enter__(self) -> "BusClient":
        if self.backend == "dbus-next":
            from dbus_next.aio import MessageBus

            async def connect():
                # Made inside the loop: dbus-next binds a MessageBus to the current loop.
                return await MessageBus(bus_address=self.address).connect()

            self._loop = asyncio.new_event_loop()
            self._bus = self._loop.run_until_complete(asyncio.wait_for(connect(), 10))
            self._bus.add_message_handler(self._on_message)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for mon in self._monitors:
            if mon.poll() is None:
                mon.kill()
                mon.wait(10)
            if mon.stdout:
                mon.stdout.close()
        self._monitors = []
        if self._bus is not None:
            self._bus.disconnect()
            self._loop.run_until_complete(asyncio.sleep(0))  # let the disconnect run
            self._bus = None
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # calls

    def call(self, destination: str, path: str, interface: str, member: str,
             signature: str = "", args: Any = (), timeout: float = 10.0) -> List[Any]:
        if self.backend == "dbus-next":
            return self._call_dbus_next(destination, path, interface, member, signature,
                                        list(args), timeout)
        return self._call_busctl(destination, path, interface, member, signature,
                                 list(args), timeout)

    def _call_dbus_next(self, destination, path, interface, member, signature, args,
                        timeout):
        from dbus_next import Message, MessageType

        msg = Message(destination=destination, path=path, interface=interface,
                      member=member, signature=signature, body=args)
        reply = self._loop.run_until_complete(
            asyncio.wait_for(self._bus.call(msg), timeout))
        if reply.message_type == MessageType.ERROR:
            raise CallError(reply.error_name, " ".join(str(b) for b in reply.body))
        return list(reply.body)

    def _call_busctl(self, destination, path, interface, member, signature, args, timeout):
        cmd = ["busctl", "--address=%s" % self.address, "--json=short",
               "--timeout=%ds" % max(1, int(timeout)), "call", destination, path, interface,
               member]
        if signature:
            cmd.append(signature)
            for value in args:
                cmd.append(("true" if value else "false") if isinstance(value, bool)
                           else str(value))
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
        if proc.returncode != 0:
            raise CallError("busctl", proc.stderr.decode(errors="replace").strip())
        out = proc.stdout.decode().strip()
        return list(json.loads(out)["data"]) if out else []

    def name_has_owner(self, name: str) -> bool:
        return bool(self.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "NameHasOwner", "s", [name])[0])

    def wait_name_change(self, name: str, timeout: float) -> None:
        """Block until the bus says `name` changed owner, or `timeout` passes (a bounded
        wait used by pollers; no state is assumed from it)."""
        if self.backend != "dbus-next":
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not self.name_has_owner(name):
                time.sleep(0.05)
            return
        rule = ("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
                "arg0='%s'" % name)
        self._add_match(rule)
        self.wait_signal("org.freedesktop.DBus", "NameOwnerChanged", timeout,
                         predicate=lambda body: body[0] == name, raise_on_timeout=False)

    # signals

    def _add_match(self, rule: str) -> None:
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                  "AddMatch", "s", [rule])

    def _on_message(self, msg) -> None:
        from dbus_next import MessageType

        if msg.message_type == MessageType.SIGNAL:
            self._signals.append((msg.interface, msg.member, msg.path, list(msg.body)))

    def subscribe(self, interface: str, member: str) -> None:
        """Start receiving `interface.member` signals (before triggering them)."""
        rule = "type='signal',interface='%s',member='%s'" % (interface, member)
        if self.backend == "dbus-next":
            self._add_match(rule)
            return
        mon = subprocess.Popen(["busctl", "--address=%s" % self.address, "--json=short",
                                "monitor", "--match=%s" % rule],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        self._monitors.append(mon)
        # busctl monitor is subscribed once it has printed its first message: the bus's
        # NameAcquired/`BecomeMonitor` handshake. Wait for it (bounded).
        ready, _, _ = select.select([mon.stdout], [], [], 10)
        if ready:
            self._read_monitor_line(mon)

    def _read_monitor_line(self, mon: subprocess.Popen) -> None:
        line = mon.stdout.readline().decode(errors="replace").strip()
        if not line:
            return
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if msg.get("type") == "signal":
            body = (msg.get("payload") or {}).get("data") or []
            self._signals.append((msg.get("interface"), msg.get("member"), msg.get("path"),
                                  list(body)))

    def wait_signal(self, interface: str, member: str, timeout: float,
                    predicate=None, raise_on_timeout: bool = True) -> Optional[List[Any]]:
        """The body of the first matching signal received (and not yet taken), waiting up
        to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (iface, mem, _path, body) in enumerate(self._signals):
                if iface == interface and mem == member and (predicate is None
                                                              or predicate(body)):
                    del self._signals[i]
                    return body
            left = deadline - time.monotonic()
            if left <= 0:
                if raise_on_timeout:
                    raise TimeoutError("no %s.%s signal within %.1f s"
                                       % (interface, member, timeout))
                return None
            self._pump(min(left, 0.5))

    def _pump(self, seconds: float) -> None:
        """Let messages arrive for at most `seconds` (returns early when one does)."""
        if self.backend == "dbus-next":
            got = self._loop.create_future()
            count = len(self._signals)

            def check(_msg):
                if len(self._signals) > count and not got.done():
                    got.set_result(True)

            self._bus.add_message_handler(check)
            try:
                self._loop.run_until_complete(asyncio.wait([got], timeout=seconds))
            finally:
                self._bus.remove_message_handler(check)
                if not got.done():
                    got.cancel()
            return
        streams = [m.stdout for m in self._monitors if m.stdout]
        if not streams:
            raise RuntimeError("wait_signal without subscribe")
        ready, _, _ = select.select(streams, [], [], seconds)
        for stream in ready:
            for mon in self._monitors:
                if mon.stdout is stream:
                    self._read_monitor_line(mon)
