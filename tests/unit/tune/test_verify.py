"""verify over a host tree: drift, kernel parameters pending the reboot, and, after the
reboot, what kept tuned's parameters off this boot (issue 11)."""

import os

import pytest

from lltune.audit.bootloader import why_parameters_are_missing
from lltune.config.loader import load
from lltune.tune.verify import verify
from tests.conftest import REPO
from tests.unit.hosts_for_examples import build_named

EXAMPLE = os.path.join(REPO, "examples", "single-socket-mellanox.yaml")
APPLY_BOOT = "boot-of-the-apply"


@pytest.fixture()
def host(tmp_path):
    """The example's host tree, booted as it was when the example was applied."""
    build_named("single-socket-mellanox", str(tmp_path))
    root = str(tmp_path / "root")
    boot_id = os.path.join(root, "proc/sys/kernel/random/boot_id")
    os.makedirs(os.path.dirname(boot_id), exist_ok=True)
    with open(boot_id, "w") as handle:
        handle.write(APPLY_BOOT + "\n")
    return root


def _remove(root, path):
    os.unlink(os.path.join(root, path.lstrip("/")))


def test_before_the_reboot_kernel_parameters_are_pending(host):
    report = verify(load(EXAMPLE), {"boot_id": APPLY_BOOT}, ask_tuned=False,
                    root=host)
    rows = {row["knob"]: row["status"] for row in report["knobs"]}
    assert rows["kernel.cmdline.isolcpus"] == "pending-reboot"
    assert report["boot_causes"] == []


def test_after_the_reboot_verify_names_why_the_parameters_are_missing(host):
    _remove(host, "/etc/grub.d/00_tuned")
    report = verify(load(EXAMPLE), {"boot_id": "an-earlier-boot"}, ask_tuned=False,
                    root=host)
    assert "kernel.cmdline.isolcpus" in report["drift"]
    assert report["boot_causes"] == [
        "tuned's bootloader plugin is off: /etc/grub.d/00_tuned is missing",
        "/boot/grub2/grubenv has no tuned_params: tuned did not write the parameters for GRUB"]


def test_a_bootloader_in_order_is_not_blamed(host):
    with open(os.path.join(host, "boot/grub2/grubenv"), "a") as handle:
        handle.write("tuned_params=isolcpus=managed_irq,domain,2-15\n")
    report = verify(load(EXAMPLE), {"boot_id": "an-earlier-boot"}, ask_tuned=False,
                    root=host)
    assert "kernel.cmdline.isolcpus" in report["drift"], "the kernel still lacks it"
    assert report["boot_causes"] == []


def test_boot_entries_without_tuned_params_or_for_another_machine_are_named():
    snapshot = {"services": {"tuned": {"bootloader": {
        "grub_tuned_script": True, "grubenv": "/boot/grub2/grubenv",
        "grubenv_tuned_params": "isolcpus=2-3", "machine_id": "a" * 32,
        "bls_entries": [{"name": "a" * 32 + "-5.14.conf", "machine_id": "a" * 32,
                         "tuned_params": False},
                        {"name": "b" * 32 + "-5.14.conf", "machine_id": "b" * 32,
                         "tuned_params": True}]}}}}
    assert why_parameters_are_missing(snapshot) == [
        "boot entries without $tuned_params: %s-5.14.conf" % ("a" * 32),
        "boot entries named for another machine-id than /etc/machine-id (%s): %s-5.14.conf"
        % ("a" * 32, "b" * 32)]

