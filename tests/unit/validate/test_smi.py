"""SMI counts from an MSR file: a regular file stands in for /dev/cpu/N/msr (pread at the MSR's
address is how the msr driver is read); the real device needs root and Intel hardware."""

import struct

from lltune.validate import smi


def _msr(tmp_path, cpu, value):
    directory = tmp_path / str(cpu)
    directory.mkdir()
    data = bytearray(0x40)
    data[smi.MSR_SMI_COUNT:smi.MSR_SMI_COUNT + 8] = struct.pack("<Q", value)
    (directory / "msr").write_bytes(bytes(data))


def test_the_counter_is_read_per_cpu_and_unknown_where_it_cannot_be(tmp_path):
    _msr(tmp_path, 2, 0xABCD00000007)  # the high half is not the counter's
    assert smi.smi_counts([2, 3], str(tmp_path)) == {2: 7, 3: None}


def test_the_delta_counts_a_wrap_and_keeps_unknowns():
    assert smi.smi_delta({2: 5, 3: None, 4: 0xFFFFFFFE}, {2: 9, 3: 4, 4: 1}) == {
        2: 4, 3: None, 4: 3}
