"""python-dbusmock template: a stand-in for the tuned daemon's D-Bus API (tuned 2.20).

Load it with ``python3 -m dbusmock --system -t tests/integration/tuned_template.py
[-p JSON]`` (the integration conftest does this on a private bus). It owns
``com.redhat.tuned`` and serves ``/Tuned`` with interface ``com.redhat.tuned.control``,
behaving as tuned does (read from tuned's daemon/controller.py; facts in
shared/notes/tuned.md):

* ``switch_profile(s) -> (bs)``: the names (space-separated: a merged profile) must all
  exist, else it answers ``(False, "Requested profile 'x' doesn't exist.")``, emits
  ``profile_changed(names, False, msg)`` and then re-applies the previous profile (another
  ``profile_changed(old, True, "OK")`` after the apply delay), as tuned does. Otherwise it
  answers ``(True, "OK")`` at once (that means *loaded*): ``active_profile()`` already gives
  the new name, ``verify_profile()`` is False until the apply finishes, and
  ``profile_changed(names, True, "OK")`` is emitted from a GLib timeout ``apply_delay``
  seconds later, never during the call.
* ``recommend_profile() -> s`` and ``auto_profile() -> (bs)``: auto_profile switches to the
  recommended profile as switch_profile does, and leaves the mode "auto".
* Unauthorised callers get falsy answers, never D-Bus errors: ``(False, "Unauthorized")``,
  ``""``, ``[]``, ``False``, ``("unknown", "Unauthorized")``, ``(False, "", "", "")``.
  (Real tuned returns ``False`` from get_all_plugins there, which cannot be marshalled as
  ``a{sa{ss}}``; the mock answers ``{}``.)
* ``log_capture_start(ii) -> s`` / ``log_capture_finish(s) -> s``: tokens; what the mock
  "logs" in between (switches, verifies and their failures) comes back as text.

Template parameters (``-p '{"active": "balanced", ...}'``):

``profiles``     {name: summary} of the known profiles (default: tuned 2.20's stock ones)
``active``       the profile applied at start ("" = none, tuned off; default virtual-guest)
``mode``         "auto" or "manual" (default "auto")
``recommended``  what recommend_profile answers (default virtual-guest)
``apply_delay``  seconds between a switch's answer and its profile_changed (default 0.2)
``plugins``      {plugin: {option: default}} for get_all_plugins (default: 2.20's set)

Test hooks on interface ``org.lltune.test.TunedMock`` (same object):

``SetAuthorized(b)``      False: every control call answers as to an unauthorised caller
``FailNextSwitch(s)``     the next switch loads (True, "OK") but its apply fails:
                          profile_changed(names, False, error); verify stays False
``FailNextVerify(s)``     the next verify returns False and logs the message
``SetHang(b)``            True: switches never finish applying (no profile_changed)
``SetApplyDelay(d)``      seconds
``SlowAfter(s, i, d)``    once method s has been called, the next i calls answer d seconds late
``DropOffBus()``          the daemon dies: the process exits right after answering
``DieOnNextSwitch()``     the next switch answers (True, "OK"), then the daemon dies while
                          "applying" (no profile_changed ever comes)
``GetCalls() -> as``      control-interface method names called so far, in order
``State() -> a{sv}``      active, mode, running, applied, authorized
"""

import os
import time
import uuid

import dbus
from gi.repository import GLib

BUS_NAME = "com.redhat.tuned"
MAIN_OBJ = "/Tuned"
MAIN_IFACE = "com.redhat.tuned.control"
SYSTEM_BUS = True
CONTROL_IFACE = "org.lltune.test.TunedMock"

# tuned 2.20's stock profiles on RHEL 9 (name -> summary).
STOCK_PROFILES = {
    "accelerator-performance": "Throughput performance based tuning with disabled "
                               "higher latency STOP states",
    "balanced": "General non-specialized tuned profile",
    "desktop": "Optimize for the desktop use-case",
    "hpc-compute": "Optimize for HPC compute workloads",
    "intel-sst": "Configure for Intel Speed Select Base Frequency",
    "latency-performance": "Optimize for deterministic performance at the cost of "
                           "increased power consumption",
    "network-latency": "Optimize for deterministic performance at the cost of increased "
                       "power consumption, focused on low latency network performance",
    "network-throughput": "Optimize for streaming network throughput, generally only "
                          "necessary on older CPUs or 40G+ networks",
    "optimize-serial-console": "Optimize for serial console use.",
    "powersave": "Optimize for low power consumption",
    "throughput-performance": "Broadly applicable tuning that provides excellent "
                              "performance across a variety of common server workloads",
    "virtual-guest": "Optimize for running inside a virtual guest",
    "virtual-host": "Optimize for running KVM guests",
}

# A representative get_all_plugins answer for tuned 2.20 (plugin -> {option: default});
# no `irq` (2.23+) and no `boost` option in `cpu` (2.24+).
STOCK_PLUGINS = {
    "bootloader": {"grub2_cfg_file": "None", "initrd_dst_img": "None",
                   "initrd_add_img": "None", "initrd_add_dir": "None",
                   "initrd_remove_dir": "None", "cmdline": "None",
                   "skip_grub_config": "None"},
    "cpu": {"load_threshold": "0.2", "latency_low": "100", "latency_high": "1000",
            "force_latency": "None", "governor": "None", "sampling_down_factor": "None",
            "energy_perf_bias": "None", "min_perf_pct": "None", "max_perf_pct": "None",
            "no_turbo": "None", "pm_qos_resume_latency_us": "None",
            "energy_performance_preference": "None"},
    "disk": {"dynamic": "True", "elevator": "None", "apm": "None", "spindown": "None",
             "readahead": "None", "readahead_multiply": "None", "scheduler_quantum": "None"},
    "irqbalance": {"banned_cpus": "None"},
    "net": {"dynamic": "True", "wake_on_lan": "None", "nf_conntrack_hashsize": "None",
            "features": "None", "coalesce": "None", "pause": "None", "ring": "None",
            "channels": "None", "txqueuelen": "None", "mtu": "None"},
    "scheduler": {"isolated_cores": "None", "cgroup_mount_point": "/sys/fs/cgroup/cpuset",
                  "cgroup_mount_point_init": "False", "cgroup_groups_init": "True",
                  "cgroup_for_isolated_cores": "None", "ps_whitelist": "None",
                  "ps_blacklist": "None", "irq_process": "True",
                  "default_irq_smp_affinity": "calc", "perf_mmap_pages": "None",
                  "perf_process_fork": "false", "sched_min_granularity_ns": "None",
                  "sched_latency_ns": "None", "sched_wakeup_granularity_ns": "None",
                  "sched_tunable_scaling": "None", "sched_migration_cost_ns": "None",
                  "sched_nr_migrate": "None", "numa_balancing_scan_delay_ms": "None",
                  "numa_balancing_scan_period_min_ms": "None",
                  "numa_balancing_scan_period_max_ms": "None",
                  "numa_balancing_scan_size_mb": "None"},
    "script": {"script": "None"},
    "service": {},
    "sysctl": {},
    "sysfs": {},
    "systemd": {"cpu_affinity": "None"},
    "vm": {"transparent_hugepages": "None", "transparent_hugepage": "None",
           "transparent_hugepage.defrag": "None"},
}


def load(mock, parameters):
    mock.t_profiles = dict(parameters.get("profiles") or STOCK_PROFILES)
    mock.t_plugins = dict(parameters.get("plugins") or STOCK_PLUGINS)
    mock.t_active = str(parameters.get("active", "virtual-guest"))
    mock.t_mode = str(parameters.get("mode", "auto"))
    mock.t_recommended = str(parameters.get("recommended", "virtual-guest"))
    mock.t_delay = float(parameters.get("apply_delay", 0.2))
    mock.t_slow_after, mock.t_slow_calls, mock.t_slow_seconds = None, 0, 0.0
    mock.t_running = bool(mock.t_active)
    mock.t_applied = bool(mock.t_active)
    mock.t_authorized = True
    mock.t_fail_switch = None
    mock.t_fail_verify = None
    mock.t_hang = False
    mock.t_die_on_switch = False
    mock.t_generation = 0  # a newer switch or stop cancels an older pending apply
    mock.t_calls = []
    mock.t_captures = {}


# -- helpers ------------------------------------------------------------------------------

def _log(mock, level, text):
    line = "%s tuned.daemon: %s" % (level, text)
    for lines in mock.t_captures.values():
        lines.append(line)


def _call(mock, name):
    slow = mock.t_slow_after in mock.t_calls and mock.t_slow_calls > 0
    mock.t_calls.append(name)
    if slow:
        # The fault under test: a daemon too busy to answer in time. Blocking the mock's own
        # loop is what a busy tuned does to its callers.
        mock.t_slow_calls -= 1
        time.sleep(mock.t_slow_seconds)
    return mock.t_authorized


def _schedule_apply(mock, names, error=None):
    """Finish applying `names` later, from the main loop: the answer goes out first."""
    mock.t_generation += 1
    generation = mock.t_generation
    mock.t_applied = False
    if mock.t_hang:
        _log(mock, "INFO", "applying profile(s) %s (never finishes: hang hook)" % names)
        return

    def finish():
        if generation != mock.t_generation or not mock.t_running:
            return False
        if error is None:
            mock.t_applied = True
            _log(mock, "INFO", "static tuning from profile '%s' applied" % names)
            mock.EmitSignal(MAIN_IFACE, "profile_changed", "sbs", [names, True, "OK"])
        else:
            _log(mock, "ERROR", error)
            mock.EmitSignal(MAIN_IFACE, "profile_changed", "sbs", [names, False, error])
        return False

    GLib.timeout_add(max(0, int(mock.t_delay * 1000)), finish)


# -- com.redhat.tuned.control ---------------------------------------------------------------

@dbus.service.method(MAIN_IFACE, in_signature="s", out_signature="(bs)")
def switch_profile(self, profile_name):
    if not _call(self, "switch_profile"):
        return (False, "Unauthorized")
    return _switch(self, profile_name, "manual")


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="s")
def recommend_profile(self):
    if not _call(self, "recommend_profile"):
        return ""
    return self.t_recommended


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="(bs)")
def auto_profile(self):
    if not _call(self, "auto_profile"):
        return (False, "Unauthorized")
    return _switch(self, self.t_recommended, "auto")


def _switch(self, profile_name, mode):
    names = " ".join(str(profile_name).split())
    missing = [n for n in names.split() if n not in self.t_profiles]
    if not names or missing:
        msg = "Requested profile '%s' doesn't exist." % (missing[0] if missing else names)
        _log(self, "ERROR", msg)
        self.EmitSignal(MAIN_IFACE, "profile_changed", "sbs", [names, False, msg])
        if self.t_running and self.t_active:
            _schedule_apply(self, self.t_active)  # tuned starts the old profile again
        return (False, msg)
    self.t_active = names
    self.t_mode = mode
    self.t_running = True
    error, self.t_fail_switch = self.t_fail_switch, None
    if self.t_die_on_switch:
        _die_soon(self)
        return (True, "OK")
    _schedule_apply(self, names, error)
    return (True, "OK")


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="s")
def active_profile(self):
    if not _call(self, "active_profile"):
        return ""
    return self.t_active


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="(ss)")
def profile_mode(self):
    if not _call(self, "profile_mode"):
        return ("unknown", "Unauthorized")
    return (self.t_mode, "")


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="as")
def profiles(self):
    if not _call(self, "profiles"):
        return dbus.Array([], signature="s")
    return dbus.Array(sorted(self.t_profiles), signature="s")


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="a(ss)")
def profiles2(self):
    if not _call(self, "profiles2"):
        return dbus.Array([], signature="(ss)")
    return dbus.Array([(n, self.t_profiles[n]) for n in sorted(self.t_profiles)],
                      signature="(ss)")


@dbus.service.method(MAIN_IFACE, in_signature="s", out_signature="(bsss)")
def profile_info(self, profile_name):
    if not _call(self, "profile_info"):
        return (False, "", "", "")
    name = str(profile_name) or self.t_active
    if name not in self.t_profiles:
        return (False, "", "", "")
    return (True, name, self.t_profiles[name], "")


def _verify(self, member):
    if not _call(self, member):
        return False
    if not self.t_running:
        _log(self, "ERROR", "tuned is not running")
        return False
    if not self.t_active:
        _log(self, "ERROR", "no profile is set")
        return False
    if not self.t_applied:
        _log(self, "ERROR", "profile is not applied")
        return False
    _log(self, "INFO", "verifying profile(s): %s" % self.t_active)
    failure, self.t_fail_verify = self.t_fail_verify, None
    if failure is not None:
        _log(self, "ERROR", "verify: failed: %s" % failure)
        return False
    _log(self, "INFO", "verify: passed")
    return True


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="b")
def verify_profile(self):
    return _verify(self, "verify_profile")


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="b")
def verify_profile_ignore_missing(self):
    return _verify(self, "verify_profile_ignore_missing")


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="b")
def disable(self):
    if not _call(self, "disable"):
        return False
    self.t_generation += 1
    self.t_running = False
    self.t_applied = False
    self.t_active = ""
    return True


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="b")
def is_running(self):
    if not _call(self, "is_running"):
        return False
    return self.t_running


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="b")
def start(self):
    if not _call(self, "start"):
        return False
    if self.t_running:
        return True
    if not self.t_active:
        return False
    self.t_running = True
    _schedule_apply(self, self.t_active)
    return True


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="b")
def stop(self):
    if not _call(self, "stop"):
        return False
    self.t_generation += 1
    self.t_running = False
    self.t_applied = False
    return True


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="b")
def reload(self):
    if not _call(self, "reload"):
        return False
    if not self.t_running:
        return False
    _schedule_apply(self, self.t_active)
    return True


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="a{sa{ss}}")
def get_all_plugins(self):
    if not _call(self, "get_all_plugins"):
        return dbus.Dictionary({}, signature="sa{ss}")
    return dbus.Dictionary(
        {p: dbus.Dictionary(o, signature="ss") for p, o in self.t_plugins.items()},
        signature="sa{ss}")


@dbus.service.method(MAIN_IFACE, in_signature="ii", out_signature="s")
def log_capture_start(self, log_level, timeout):
    if not _call(self, "log_capture_start"):
        return ""
    token = uuid.uuid4().hex
    self.t_captures[token] = []
    if int(timeout) > 0:
        GLib.timeout_add(int(timeout) * 1000, lambda: self.t_captures.pop(token, None) and False)
    return token


@dbus.service.method(MAIN_IFACE, in_signature="s", out_signature="s")
def log_capture_finish(self, token):
    if not _call(self, "log_capture_finish"):
        return ""
    lines = self.t_captures.pop(str(token), None)
    return "" if lines is None else "".join(line + "\n" for line in lines)


# -- test hooks -------------------------------------------------------------------------------

@dbus.service.method(CONTROL_IFACE, in_signature="b", out_signature="")
def SetAuthorized(self, authorized):
    self.t_authorized = bool(authorized)


@dbus.service.method(CONTROL_IFACE, in_signature="s", out_signature="")
def FailNextSwitch(self, error):
    self.t_fail_switch = str(error)


@dbus.service.method(CONTROL_IFACE, in_signature="s", out_signature="")
def FailNextVerify(self, message):
    self.t_fail_verify = str(message)


@dbus.service.method(CONTROL_IFACE, in_signature="b", out_signature="")
def SetHang(self, hang):
    self.t_hang = bool(hang)


@dbus.service.method(CONTROL_IFACE, in_signature="d", out_signature="")
def SetApplyDelay(self, seconds):
    self.t_delay = float(seconds)


@dbus.service.method(CONTROL_IFACE, in_signature="sid", out_signature="")
def SlowAfter(self, member, calls, seconds):
    self.t_slow_after, self.t_slow_calls, self.t_slow_seconds = str(member), int(calls), \
        float(seconds)


def _die_soon(mock):
    """Exit from the main loop shortly after the current answer has gone out."""
    def die():
        mock.connection.flush()
        os._exit(0)

    GLib.timeout_add(50, die)


@dbus.service.method(CONTROL_IFACE, in_signature="", out_signature="")
def DropOffBus(self):
    _die_soon(self)


@dbus.service.method(CONTROL_IFACE, in_signature="", out_signature="")
def DieOnNextSwitch(self):
    self.t_die_on_switch = True


@dbus.service.method(CONTROL_IFACE, in_signature="", out_signature="as")
def GetCalls(self):
    return dbus.Array(self.t_calls, signature="s")


@dbus.service.method(CONTROL_IFACE, in_signature="", out_signature="a{sv}")
def State(self):
    return dbus.Dictionary({
        "active": dbus.String(self.t_active), "mode": dbus.String(self.t_mode),
        "running": dbus.Boolean(self.t_running), "applied": dbus.Boolean(self.t_applied),
        "authorized": dbus.Boolean(self.t_authorized),
    }, signature="sv")
