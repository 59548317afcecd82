"""The tuned hook's logic over a temporary root (the real /proc and /sys are the guest's job).

Files stand in for /proc/irq/N/smp_affinity_list here: that is the fault that cannot be
produced for real on this machine without changing its IRQ affinities.
"""

import json
import os

import pytest

from lltune.model.profile import host_profile
from lltune.tune.hook import Hook, HookError
from lltune.tune.hookhost import LIMITS_FILE

HOOK_DATA = host_profile("/etc/tuned").hook_data  # the trees here have RHEL 9's layout

INTERRUPTS = """           CPU0       CPU1       CPU2       CPU3
  24:          5          0          0          0  PCI-MSIX-0000:00:03.0  0-edge  virtio2-config
  25:        100          0          0          0  PCI-MSIX-0000:00:03.0  1-edge  virtio2-input.0
  26:         50          0          0          0  PCI-MSIX-0000:00:03.0  2-edge  virtio2-output.0
  27:        100          0          0          0  PCI-MSIX-0000:00:03.0  3-edge  virtio2-input.1
  28:         50          0          0          0  PCI-MSIX-0000:00:03.0  4-edge  virtio2-output.1
  29:         70          0          0          0  IO-APIC  9-fasteoi  acpi
"""


def _file(root, path, text):
    target = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as handle:
        handle.write(text)


@pytest.fixture()
def root(tmp_path):
    pci = "sys/devices/pci0000:00/0000:00:03.0"
    os.makedirs(str(tmp_path / pci / "virtio2/net/eth1"))
    os.makedirs(str(tmp_path / pci / "msi_irqs"))
    for irq in range(24, 29):
        _file(tmp_path, "/%s/msi_irqs/%d" % (pci, irq), "msix\n")
    os.makedirs(str(tmp_path / "sys/class/net"))
    os.symlink("../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth1",
               str(tmp_path / "sys/class/net/eth1"))
    os.symlink("../../../virtio2", str(tmp_path / pci / "virtio2/net/eth1/device"))
    _file(tmp_path, "/proc/interrupts", INTERRUPTS)
    for irq in range(24, 30):
        _file(tmp_path, "/proc/irq/%d/smp_affinity_list" % irq, "0-3\n")
    _file(tmp_path, "/proc/swaps", "Filename Type Size Used Priority\n")
    return tmp_path


def _data(root, **fields):
    data = {"version": 1, "irq_pins": [], "isolate_irqs": None, "swap": None, "limits": [],
            "ptp": None}
    data.update(fields)
    _file(root, HOOK_DATA, json.dumps(data))


def _affinity(root, irq):
    return (root / ("proc/irq/%d/smp_affinity_list" % irq)).read_text().strip()


def test_queue_irqs_are_found_in_queue_order(root):
    assert Hook(str(root)).nic_queue_irqs("eth1") == [(0, 25), (0, 26), (1, 27), (1, 28)]


def test_pins_apply_verify_and_restore(root):
    _data(root, irq_pins=[{"interface": "eth1", "cpus": [2, 3]}])
    hook = Hook(str(root))
    assert hook.verify() == 1, "before start the pins are not there"
    assert hook.start() == 0
    assert [_affinity(root, irq) for irq in (24, 25, 26, 27, 28, 29)] == \
        ["0-3", "2", "2", "3", "3", "0-3"]
    assert Hook(str(root)).verify() == 0
    assert Hook(str(root)).start() == 0, "a second start is idempotent"
    assert Hook(str(root)).stop() == 0
    assert [_affinity(root, irq) for irq in range(24, 30)] == ["0-3"] * 6, \
        "stop restores the affinity from before the first start, not ours"


def test_isolate_irqs_fallback(root):
    _data(root, isolate_irqs=[0, 1])
    Hook(str(root)).start()
    assert {_affinity(root, irq) for irq in range(24, 30)} == {"0-1"}
    Hook(str(root)).stop()
    assert {_affinity(root, irq) for irq in range(24, 30)} == {"0-3"}


def test_verify_holds_pins_exactly_and_other_irqs_within_housekeeping(root):
    """As tuned's [scheduler] verify: an IRQ moved off the isolated CPUs may sit on any of the
    housekeeping CPUs (irqbalance, banned from the isolated ones, narrows it); a pinned queue
    IRQ must stay on its CPU."""
    _data(root, isolate_irqs=[0, 1], irq_pins=[{"interface": "eth1", "cpus": [2, 3]}])
    assert Hook(str(root)).start() == 0
    _file(root, "/proc/irq/24/smp_affinity_list", "1\n")
    assert Hook(str(root)).verify() == 0, "narrowed within the housekeeping CPUs"
    _file(root, "/proc/irq/24/smp_affinity_list", "1-2\n")
    hook = Hook(str(root))
    assert hook.verify() == 1 and "IRQ 24 affinity 1-2, wanted within 0-1" in " ".join(
        hook.messages)
    _file(root, "/proc/irq/24/smp_affinity_list", "0-1\n")
    _file(root, "/proc/irq/25/smp_affinity_list", "0\n")
    hook = Hook(str(root))
    assert hook.verify() == 1 and "IRQ 25 affinity 0, wanted 2" in " ".join(hook.messages)


def test_limits_file_written_and_removed(root):
    _data(root, limits=[{"domain": "@trading", "memlock": "unlimited", "rtprio": 99}])
    hook = Hook(str(root))
    hook.start()
    text = (root / LIMITS_FILE.lstrip("/")).read_text()
    assert "@trading - memlock unlimited\n@trading - rtprio 99\n" in text
    assert Hook(str(root)).verify() == 0
    (root / LIMITS_FILE.lstrip("/")).write_text("edited by hand\n")
    assert Hook(str(root)).verify() == 1
    Hook(str(root)).stop()
    assert not (root / LIMITS_FILE.lstrip("/")).exists()


def test_limits_file_that_existed_is_put_back(root):
    _file(root, LIMITS_FILE, "* - nofile 4096\n")
    _data(root, limits=[{"domain": "*", "nofile": 65536}])
    Hook(str(root)).start()
    Hook(str(root)).stop()
    assert (root / LIMITS_FILE.lstrip("/")).read_text() == "* - nofile 4096\n"


def test_ptp_files(root):
    _file(root, "/etc/sysconfig/ptp4l", 'OPTIONS="-f /etc/ptp4l.conf -i eth0"\n')
    _data(root, ptp={"interface": "eth1", "ptp4l_options": "-2 -s"})
    Hook(str(root)).start()
    assert (root / "etc/sysconfig/ptp4l").read_text() == \
        'OPTIONS="-f /etc/ptp4l.conf -i eth1 -2 -s"\n'
    assert (root / "etc/sysconfig/phc2sys").read_text() == 'OPTIONS="-a -r"\n'
    Hook(str(root)).stop()
    assert (root / "etc/sysconfig/ptp4l").read_text() == \
        'OPTIONS="-f /etc/ptp4l.conf -i eth0"\n'
    assert not (root / "etc/sysconfig/phc2sys").exists()


class FakeSystemd:
    """systemctl as the hook calls it, over units' (active, enabled) states, standing in for
    the running systemd of the tree. A private tree has none: the guests start and stop the
    real daemons (test_apply_guest.py)."""

    def __init__(self, booting=False, **units):
        self.units = {name + ".service": list(state) for name, state in units.items()}
        self.booting = booting
        self.calls = []

    def __call__(self, *args):
        verb, unit = args[0], args[-1]
        if unit == "default.target":
            return 3 if self.booting else 0
        self.calls.append(tuple(a for a in args if a != "--quiet"))
        state = self.units.setdefault(unit, [False, False])
        if verb in ("is-active", "is-enabled"):
            return 0 if state[verb == "is-enabled"] else 3
        state[verb in ("enable", "disable")] = verb in ("restart", "enable")
        return 0


def test_ptp_daemons_start_after_their_options_and_go_back_as_they_were(root, monkeypatch):
    systemd = FakeSystemd(ptp4l=(False, False), phc2sys=(False, True))
    monkeypatch.setattr(Hook, "systemctl", systemd)
    monkeypatch.setattr(Hook, "runs_this_root", lambda _self: True)
    _data(root, ptp={"interface": "eth1", "ptp4l_options": "-2 -s"})
    hook = Hook(str(root))
    hook.start()
    assert systemd.units == {"ptp4l.service": [True, True], "phc2sys.service": [True, True]}
    assert ("restart", "ptp4l.service") in systemd.calls
    assert Hook(str(root)).verify() == 0
    systemd.calls.clear()
    assert Hook(str(root)).start() == 0
    assert ("restart", "ptp4l.service") not in systemd.calls, "same options: not restarted"
    systemd.units["phc2sys.service"][0] = False
    hook = Hook(str(root))
    assert hook.verify() == 1 and hook.messages == ["phc2sys.service is not running"]
    assert Hook(str(root)).stop() == 0
    assert systemd.units == {"ptp4l.service": [False, False], "phc2sys.service": [False, True]}
    assert systemd.calls[-4:] == [("stop", "phc2sys.service"), ("enable", "phc2sys.service"),
                                  ("stop", "ptp4l.service"), ("disable", "ptp4l.service")]


def test_at_boot_the_ptp_daemons_are_only_queued(root, monkeypatch):
    """ptp4l orders after network-online.target: a blocking restart from tuned's start at
    boot would wait for it."""
    systemd = FakeSystemd(booting=True, ptp4l=(False, True), phc2sys=(False, True))
    monkeypatch.setattr(Hook, "systemctl", systemd)
    monkeypatch.setattr(Hook, "runs_this_root", lambda _self: True)
    _data(root, ptp={"interface": "eth1", "ptp4l_options": "-2 -s"})
    assert Hook(str(root)).start() == 0
    assert ("restart", "--no-block", "ptp4l.service") in systemd.calls
    assert ("restart", "ptp4l.service") not in systemd.calls


def test_changed_ptp_options_restart_the_daemons_and_unmanaged_ones_are_left_alone(
        root, monkeypatch):
    systemd = FakeSystemd(ptp4l=(True, True), phc2sys=(True, True))
    monkeypatch.setattr(Hook, "systemctl", systemd)
    monkeypatch.setattr(Hook, "runs_this_root", lambda _self: True)
    _file(root, "/etc/sysconfig/ptp4l", 'OPTIONS="-f /etc/ptp4l.conf -i eth1 -2 -s"\n')
    _file(root, "/etc/sysconfig/phc2sys", 'OPTIONS="-a -r"\n')
    _data(root, ptp={"interface": "eth1", "ptp4l_options": "-2 -s"})
    Hook(str(root)).start()
    assert ("restart", "ptp4l.service") not in systemd.calls, "the site's options already"
    _data(root, ptp={"interface": "eth1", "ptp4l_options": "-4"})
    Hook(str(root)).start()
    assert ("restart", "ptp4l.service") in systemd.calls
    Hook(str(root)).stop()
    systemd.calls.clear()
    _data(root, ptp={"interface": "eth1", "manage_services": False})
    Hook(str(root)).start()
    assert Hook(str(root)).verify() == 0 and Hook(str(root)).stop() == 0
    assert systemd.calls == [], "manage_services: false"


def test_over_a_root_prefix_the_ptp_daemons_are_left_to_the_booted_host(root, monkeypatch):
    """An image being built: nothing is started and no state is recorded that a rollback on
    the booted host would take for the daemons' own."""
    systemd = FakeSystemd(ptp4l=(False, False), phc2sys=(False, False))
    monkeypatch.setattr(Hook, "systemctl", systemd)
    _data(root, ptp={"interface": "eth1", "ptp4l_options": "-2 -s"})
    hook = Hook(str(root))
    assert hook.start() == 0 and "left to the booted host" in " ".join(hook.notes)
    assert Hook(str(root)).verify() == 0 and Hook(str(root)).stop() == 0
    assert systemd.calls == [] and hook.saved("ptp-services") is None


@pytest.mark.parametrize("fields", [
    {"limits": [{"domain": "bad domain; rm -rf /", "nofile": 1}]},
    {"ptp": {"interface": "eth1", "ptp4l_options": "$(reboot)"}},
    {"ptp": {"interface": "eth1\nx"}},
    {"irq_pins": [{"interface": "../../etc", "cpus": [0]}]},
])
def test_unsafe_hook_data_is_refused_before_writing(root, fields):
    _data(root, **fields)
    with pytest.raises(HookError):
        Hook(str(root)).start()
    assert not (root / LIMITS_FILE.lstrip("/")).exists()
    assert not (root / "etc/sysconfig/ptp4l").exists()


def test_no_hook_data_means_nothing_to_do(root):
    hook = Hook(str(root))
    assert hook.start() == 0 and hook.verify() == 0 and hook.stop() == 0


def test_main_reports_errors_in_one_line(root, capsys, monkeypatch):
    from lltune.tune import hook as hooks

    _file(root, HOOK_DATA, "{broken")
    monkeypatch.setattr(hooks, "Hook", lambda _root: Hook(str(root)))
    assert hooks.main(["start"]) == 1
    assert hooks.main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "lltune-hook start: " in err and "Traceback" not in err


def test_a_bad_value_late_in_the_data_leaves_nothing_half_done(root):
    _data(root, limits=[{"domain": "@ok", "nofile": 1024}],
          ptp={"interface": "eth1", "ptp4l_options": "`reboot`"})
    with pytest.raises(HookError):
        Hook(str(root)).start()
    assert not (root / LIMITS_FILE.lstrip("/")).exists()


def _process(root, pid, comm, flags, allowed):
    fields = ["S"] + ["0"] * 5 + [str(flags)] + ["0"] * 40
    _file(root, "/proc/%d/stat" % pid, "%d (%s) %s\n" % (pid, comm, " ".join(fields)))
    _file(root, "/proc/%d/status" % pid, "Name:\t%s\nCpus_allowed_list:\t%s\n" % (comm, allowed))


def test_kernel_threads_outside_housekeeping_are_reported(root):
    _process(root, 1001, "kworker/u8:2", 0x00200000, "0-3")  # unbound kthread: movable
    _process(root, 1002, "ksoftirqd/3", 0x00200000, "3")  # per-CPU: cannot move
    _process(root, 1003, "rcu_preempt", 0x00200000, "0-1")  # already on housekeeping
    _process(root, 1004, "sshd", 0, "0-3")  # not a kernel thread
    _data(root, kthread_cpus=[0, 1])
    hook = Hook(str(root))
    assert list(hook.movable_kthreads([0, 1])) == [1001]
    assert hook.verify() == 1
    assert any("kworker/u8:2 (1001)" in m for m in hook.messages)
    # start() moves threads only on the live root: these pids are not this kernel's
    assert hook.start() == 0 and hook.saved("kthreads") is None


def test_stop_goes_on_after_a_failure_and_keeps_what_failed(root, monkeypatch):
    _file(root, "/proc/swaps", "Filename Type Size Used Priority\n/dev/vdb partition 1 0 -2\n")
    _data(root, swap="off", limits=[{"domain": "*", "nofile": 65536}],
          irq_pins=[{"interface": "eth1", "cpus": [2]}])
    commands = []

    def run(hook, argv, ok_codes=(0,)):
        # A mock fault: swapon failing cannot be produced without touching this host's swap.
        commands.append(argv)
        if argv[0] == "swapon":
            raise HookError("swapon /dev/vdb failed (255): device busy")

    monkeypatch.setattr(Hook, "run", run)
    assert Hook(str(root)).start() == 0
    _file(root, "/proc/swaps", "Filename Type Size Used Priority\n")
    hook = Hook(str(root))
    assert hook.stop() == 1
    assert hook.messages == ["swapon /dev/vdb failed (255): device busy"]
    assert not (root / LIMITS_FILE.lstrip("/")).exists(), "the limits file was still removed"
    assert _affinity(root, 25) == "0-3", "the IRQs were still restored"
    assert Hook(str(root)).saved("swap") == ["/dev/vdb"], "kept for the next stop"
    monkeypatch.setattr(Hook, "run", lambda hook, argv, ok_codes=(0,): commands.append(argv))
    assert Hook(str(root)).stop() == 0
    assert commands[-1] == ["swapon", "/dev/vdb"] and Hook(str(root)).saved("swap") is None


def test_a_malformed_saved_record_does_not_stop_the_other_restores(root):
    _data(root, limits=[{"domain": "*", "nofile": 65536}])
    assert Hook(str(root)).start() == 0
    Hook(str(root)).save("coalesce", {"eth1": ["not", "a", "mapping"]})
    hook = Hook(str(root))
    assert hook.stop() == 1
    assert hook.messages and hook.messages[0].startswith("stop_coalesce:")
    assert not (root / LIMITS_FILE.lstrip("/")).exists()


def test_on_rhel_10s_layout_the_hook_reads_its_data_there(root):
    """tuned-main.conf says profiles live in /etc/tuned/profiles: the hook data apply wrote
    there is the one read; a stale copy at RHEL 9's place is not."""
    _file(root, "/etc/tuned/tuned-main.conf",
          "profile_dirs = /usr/lib/tuned/profiles,/etc/tuned/profiles\n")
    _data(root, irq_pins=[{"interface": "eth1", "cpus": [3]}])  # RHEL 9's place: stale
    new = host_profile("/etc/tuned/profiles").hook_data
    _file(root, new, json.dumps({"version": 1, "irq_pins": [{"interface": "eth1",
                                                               "cpus": [2]}]}))
    hook = Hook(str(root))
    assert hook.hook_data == new
    assert hook.start() == 0
    assert [_affinity(root, irq) for irq in (25, 26, 27, 28)] == ["2"] * 4


def test_sysctls_a_site_file_would_win_are_set_after_tuned_and_put_back(root):
    """issue 12: tuned re-applies /etc/sysctl.d over the profile; the hook, after it, sets
    the profile's value again and restores what it found."""
    _file(root, "/proc/sys/kernel/sched_rt_runtime_us", "950000\n")
    _data(root, sysctls={"kernel.sched_rt_runtime_us": "-1"})
    hook = Hook(str(root))
    assert hook.verify() == 1
    assert hook.start() == 0
    assert (root / "proc/sys/kernel/sched_rt_runtime_us").read_text() == "-1\n"
    assert Hook(str(root)).verify() == 0
    assert Hook(str(root)).start() == 0, "again: the original from before the first start stays"
    assert Hook(str(root)).stop() == 0
    assert (root / "proc/sys/kernel/sched_rt_runtime_us").read_text() == "950000\n"


def test_a_bad_sysctl_in_the_data_changes_nothing(root):
    _file(root, "/proc/sys/vm/swappiness", "30\n")
    _data(root, limits=[{"domain": "@trading", "rtprio": 99}],
          sysctls={"vm.swappiness": "1", "../../etc/x": "1"})
    with pytest.raises(HookError, match="bad sysctl name"):
        Hook(str(root)).start()
    assert (root / "proc/sys/vm/swappiness").read_text() == "30\n"
    assert not (root / LIMITS_FILE.lstrip("/")).exists()


def test_stop_without_full_rollback_keeps_what_start_set(root, monkeypatch, capsys):
    """tuned stops its profile without full_rollback at shutdown (and on a restart with
    rollback=not_on_exit): the hook keeps its pins, limits file and saved originals for the
    next start; with full_rollback it undoes them (issue 12)."""
    from lltune.tune import hook as hook_module

    _data(root, irq_pins=[{"interface": "eth1", "cpus": [2]}],
          limits=[{"domain": "@trading", "rtprio": 99}])
    monkeypatch.setattr(hook_module, "Hook", lambda _root: Hook(str(root)))
    assert hook_module.main(["start"]) == 0
    assert hook_module.main(["stop"]) == 0
    assert _affinity(root, 25) == "2" and (root / LIMITS_FILE.lstrip("/")).exists()
    # On stdout: tuned logs the hook's stderr as an ERROR, and this is no error.
    assert "kept what start set" in capsys.readouterr().out
    assert hook_module.main(["start"]) == 0
    assert hook_module.main(["stop", "full_rollback"]) == 0
    assert _affinity(root, 25) == "0-3" and not (root / LIMITS_FILE.lstrip("/")).exists()


def test_an_irq_the_kernel_refuses_to_move_is_left_out_of_verify(root, monkeypatch):
    """Managed IRQs answer EIO to a new affinity (the kernel places them): tuned's [scheduler]
    records them as unchangeable and its verify with ignore_missing skips them; the hook does
    the same. The refusal is a kernel fault this machine cannot produce in a tree: the write
    is made to fail for IRQ 29 only."""
    real = Hook.write_irq_affinity

    def refusing(self, irq, cpus):
        if irq == 29:
            return "IRQ 29: cannot set affinity (Input/output error)"
        return real(self, irq, cpus)

    monkeypatch.setattr(Hook, "write_irq_affinity", refusing)
    _data(root, isolate_irqs=[0, 1])
    assert Hook(str(root)).start() == 0
    assert _affinity(root, 29) == "0-3" and _affinity(root, 25) == "0-1"
    assert Hook(str(root)).verify() == 0, "the managed IRQ is not drift"
    hook = Hook(str(root))
    assert hook.stop() == 0 and hook.messages == [], "nothing to restore on a refused IRQ"
    hook = Hook(str(root))
    assert hook.start() == 0 and hook.notes == ["IRQ 29: cannot set affinity "
                                                "(Input/output error)"]
    monkeypatch.setattr(Hook, "write_irq_affinity", real)
    _file(root, "/proc/irq/25/smp_affinity_list", "2\n")
    assert Hook(str(root)).verify() == 1, "a movable IRQ that moved still is"


def test_default_irq_affinity_set_verified_and_restored(root):
    _file(root, "/proc/irq/default_smp_affinity", "f\n")
    _data(root, irq_pins=[{"interface": "eth1", "cpus": [3]}], isolate_irqs=[0, 1],
          default_irq_affinity=[0, 1])
    assert Hook(str(root)).start() == 0
    assert [_affinity(root, irq) for irq in range(24, 30)] == ["0-1", "3", "3", "3", "3", "0-1"]
    assert (root / "proc/irq/default_smp_affinity").read_text() == "00000003\n"
    assert Hook(str(root)).verify() == 0
    _file(root, "/proc/irq/default_smp_affinity", "f\n")
    hook = Hook(str(root))
    assert hook.verify() == 1 and any("default_smp_affinity" in m for m in hook.messages)
    assert Hook(str(root)).stop() == 0
    assert (root / "proc/irq/default_smp_affinity").read_text() == "f\n"
    assert [_affinity(root, irq) for irq in range(24, 30)] == ["0-3"] * 6


DROPIN = "etc/systemd/system/trader.service.d/99-lltune-limits.conf"


def test_services_get_their_limits_in_a_dropin_and_lose_it_at_stop(root, monkeypatch):
    commands = []
    monkeypatch.setattr(Hook, "run", lambda hook, argv, ok_codes=(0,): commands.append(argv))
    monkeypatch.setattr(Hook, "reload_systemd",
                        lambda hook: commands.append(["systemctl", "daemon-reload"]))
    os.makedirs(str(root / "etc/systemd/system"))
    _data(root, limits=[{"domain": "@trading", "memlock": "unlimited", "rtprio": 99,
                         "nofile": 1048576, "units": ["trader.service"]}])
    assert Hook(str(root)).start() == 0
    assert (root / DROPIN).read_text().splitlines()[1:] == [
        "[Service]", "LimitMEMLOCK=infinity", "LimitRTPRIO=99", "LimitNOFILE=1048576"]
    assert commands == [["systemctl", "daemon-reload"]]
    assert Hook(str(root)).verify() == 0
    assert Hook(str(root)).start() == 0
    assert commands == [["systemctl", "daemon-reload"]], "an unchanged drop-in: no reload"
    (root / DROPIN).write_text("[Service]\nLimitMEMLOCK=64K\n")
    assert Hook(str(root)).verify() == 1, "a drop-in edited by hand is drift"
    assert Hook(str(root)).stop() == 0
    assert not (root / DROPIN).parent.exists(), "the directory the hook made goes too"
    assert commands[-1] == ["systemctl", "daemon-reload"] and len(commands) == 2


def test_a_site_dropin_directory_stays_and_a_linked_one_is_refused(root, monkeypatch):
    monkeypatch.setattr(Hook, "reload_systemd", lambda hook: None)
    site = root / "etc/systemd/system/trader.service.d"
    os.makedirs(str(site))
    (site / "10-site.conf").write_text("[Service]\nNice=-5\n")
    _data(root, limits=[{"domain": "@trading", "rtprio": 99, "units": ["trader.service"]}])
    Hook(str(root)).start()
    Hook(str(root)).stop()
    assert sorted(os.listdir(str(site))) == ["10-site.conf"]
    elsewhere = root / "elsewhere"
    os.makedirs(str(elsewhere))
    os.symlink(str(elsewhere), str(root / "etc/systemd/system/md.service.d"))
    _data(root, limits=[{"domain": "@md", "rtprio": 99, "units": ["md.service"]}])
    with pytest.raises(HookError, match="not a directory"):
        Hook(str(root)).start()
    assert os.listdir(str(elsewhere)) == []


def test_a_saved_record_naming_another_file_is_not_written_back(root, monkeypatch):
    monkeypatch.setattr(Hook, "reload_systemd", lambda hook: None)
    os.makedirs(str(root / "etc/systemd/system"))
    _data(root, limits=[{"domain": "@t", "rtprio": 99, "units": ["trader.service"]}])
    Hook(str(root)).start()
    hook = Hook(str(root))
    hook.save("dropin-trader.service.d", {"path": "/etc/shadow", "content": "x"})
    assert hook.stop() == 1
    assert not (root / "etc/shadow").exists()
