"""lltune.host.ethtool: the pure decoders on hand-built buffers, the ioctl path against a fake
kernel, and the live interfaces of this machine (skipped when absent)."""

import errno
import json
import os
import struct

import pytest

from lltune.host import ethtool
from lltune.host.reader import Missing

SYS_NET = "/sys/class/net"


def have(ifname):
    return os.path.exists(os.path.join(SYS_NET, ifname))


needs_eth0 = pytest.mark.skipif(not have("eth0"), reason="no eth0 on this machine")
needs_lo = pytest.mark.skipif(not have("lo"), reason="no lo in this namespace")


# ------------------------------------------------------------------ layouts


def test_struct_sizes_match_the_uapi():
    # sizeof() of each struct in include/uapi/linux/ethtool.h
    assert ethtool._DRVINFO.size == 196
    assert ethtool._CMD.size == 44
    assert ethtool._LINK_SETTINGS.size == 48
    assert ethtool._RINGPARAM.size == 36
    assert ethtool._CHANNELS.size == 36
    assert ethtool._COALESCE.size == 92
    assert ethtool._PAUSEPARAM.size == 16
    assert ethtool._TS_INFO.size == 44
    assert ethtool._SSET_INFO.size == 16
    assert ethtool._GSTRINGS.size == 12
    assert ethtool._GFEATURES.size == 8
    assert ethtool._FEATURES_BLOCK.size == 16
    assert ethtool._VALUE.size == 8


def test_ifreq_is_the_kernel_struct_size():
    if struct.calcsize("P") == 8:
        assert ethtool._IFREQ_SIZE == 40  # sizeof(struct ifreq) on LP64
    assert ethtool._IFREQ_DATA.size <= ethtool._IFREQ_SIZE


def test_coalesce_names_cover_the_struct():
    assert len(ethtool.COALESCE_FIELDS) == ethtool._COALESCE.size // 4 - 1
    names = [name for _field, name in ethtool.COALESCE_FIELDS]
    assert len(set(names)) == len(names)


# ------------------------------------------------------------------ pure decoders


def ts_info(so_timestamping, phc_index, tx_types, rx_filters):
    return ethtool._TS_INFO.pack(ethtool.ETHTOOL_GET_TS_INFO, so_timestamping, phc_index,
                                 tx_types, 0, 0, 0, rx_filters, 0, 0, 0)


def test_decode_ts_info_software_only():
    data = ts_info((1 << 1) | (1 << 3) | (1 << 4), -1, 0, 0)
    assert ethtool._decode_ts_info(data) == {
        "phc_index": None,
        "so_timestamping": ["software-transmit", "software-receive", "software-system-clock"],
        "tx_types": [], "rx_filters": []}


def test_decode_ts_info_hardware_and_unknown_bits():
    data = ts_info((1 << 0) | (1 << 2) | (1 << 6) | (1 << 31), 3,
                   (1 << 0) | (1 << 1) | (1 << 2) | (1 << 9),
                   (1 << 0) | (1 << 1) | (1 << 12) | (1 << 15) | (1 << 20))
    got = ethtool._decode_ts_info(data)
    assert got["phc_index"] == 3
    assert got["so_timestamping"] == ["hardware-transmit", "hardware-receive",
                                      "hardware-raw-clock", "bit-31"]
    assert got["tx_types"] == ["off", "on", "onestep-sync", "bit-9"]
    assert got["rx_filters"] == ["none", "all", "ptpv2-event", "ntp-all", "bit-20"]


def test_decode_drvinfo_strips_nuls():
    data = ethtool._DRVINFO.pack(ethtool.ETHTOOL_GDRVINFO, b"mlx5_core", b"6.1.0",
                                 b"22.36.1010 (MT_0000000359)", b"0000:3b:00.0", b"",
                                 b"", 3, 120, 0, 0, 4096)
    assert ethtool._decode_drvinfo(data) == {
        "driver": "mlx5_core", "version": "6.1.0",
        "firmware_version": "22.36.1010 (MT_0000000359)", "bus_info": "0000:3b:00.0",
        "erom_version": "", "n_priv_flags": 3, "n_stats": 120, "testinfo_len": 0,
        "eedump_len": 0, "regdump_len": 4096}


def link_settings_header(speed, duplex, port, autoneg, nwords):
    return ethtool._LINK_SETTINGS.pack(ethtool.ETHTOOL_GLINKSETTINGS, speed, duplex, port, 0,
                                       autoneg, 0, 0, 0, nwords, 0, 0, 0, 0, *([0] * 7))


def test_decode_link_settings():
    data = link_settings_header(25000, 0x01, 0x05, 1, 4) + bytes(48)
    assert ethtool._decode_link_settings(data) == {
        "speed": 25000, "duplex": "full", "autoneg": True, "port": "da",
        "source": "GLINKSETTINGS"}


def test_decode_link_settings_unknown_speed_and_duplex():
    data = link_settings_header(0xFFFFFFFF, 0xFF, 0xFF, 0, 4)
    got = ethtool._decode_link_settings(data)
    assert got["speed"] is None and got["duplex"] is None and got["autoneg"] is False
    assert got["port"] == "other"
    assert ethtool._decode_link_settings(link_settings_header(0, 0, 0x42, 0, 4))["speed"] is None
    assert ethtool._decode_link_settings(link_settings_header(0, 0, 0x42, 0, 4))["port"] == (
        "port-66")


def test_decode_legacy_cmd_joins_the_speed_halves():
    speed = 100000
    data = ethtool._CMD.pack(ethtool.ETHTOOL_GSET, 0, 0, speed & 0xFFFF, 0x00, 0x03, 0, 0, 1, 0,
                             0, 0, speed >> 16, 0, 0, 0, 0, 0)
    assert ethtool._decode_cmd(data) == {"speed": 100000, "duplex": "half", "autoneg": True,
                                         "port": "fibre", "source": "GSET"}
    unknown = ethtool._CMD.pack(ethtool.ETHTOOL_GSET, 0, 0, 0xFFFF, 0xFF, 0xFF, 0, 0, 0, 0, 0,
                                0, 0xFFFF, 0, 0, 0, 0, 0)
    assert ethtool._decode_cmd(unknown)["speed"] is None


def test_decode_rings_and_channels():
    rings = ethtool._RINGPARAM.pack(ethtool.ETHTOOL_GRINGPARAM, 8192, 0, 0, 8192, 1024, 0, 0,
                                    512)
    assert ethtool._decode_ringparam(rings) == {
        "current": {"rx": 1024, "rx_mini": 0, "rx_jumbo": 0, "tx": 512},
        "max": {"rx": 8192, "rx_mini": 0, "rx_jumbo": 0, "tx": 8192}}
    chans = ethtool._CHANNELS.pack(ethtool.ETHTOOL_GCHANNELS, 0, 0, 1, 63, 0, 0, 1, 16)
    assert ethtool._decode_channels(chans) == {
        "current": {"rx": 0, "tx": 0, "other": 1, "combined": 16},
        "max": {"rx": 0, "tx": 0, "other": 1, "combined": 63}}


def test_decode_coalesce_names_and_bools():
    values = list(range(1, 23))
    values[9] = 1  # use_adaptive_rx_coalesce
    values[10] = 0  # use_adaptive_tx_coalesce
    got = ethtool._decode_coalesce(ethtool._COALESCE.pack(ethtool.ETHTOOL_GCOALESCE, *values))
    assert list(got) == [name for _field, name in ethtool.COALESCE_FIELDS]
    assert got["rx-usecs"] == 1 and got["rx-frames"] == 2 and got["tx-usecs"] == 5
    assert got["adaptive-rx"] is True and got["adaptive-tx"] is False
    assert got["rx-frames-low"] == 14 and got["sample-interval"] == 22


def test_decode_pause():
    data = ethtool._PAUSEPARAM.pack(ethtool.ETHTOOL_GPAUSEPARAM, 0, 1, 0)
    assert ethtool._decode_pause(data) == {"autoneg": False, "rx": True, "tx": False}


def test_decode_sset_count():
    data = ethtool._SSET_INFO.pack(ethtool.ETHTOOL_GSSET_INFO, 0, 1 << 4) + struct.pack("@I", 65)
    assert ethtool._decode_sset_count(data, 4) == 65
    data = ethtool._SSET_INFO.pack(ethtool.ETHTOOL_GSSET_INFO, 0, 0) + bytes(4)
    assert ethtool._decode_sset_count(data, 2) is None


def gstrings(string_set, names, room=None):
    room = len(names) if room is None else room
    body = b"".join(n.encode().ljust(32, b"\0") for n in names)
    return ethtool._GSTRINGS.pack(ethtool.ETHTOOL_GSTRINGS, string_set, len(names)) + body.ljust(
        room * 32, b"\0")


def test_decode_strings():
    data = gstrings(4, ["tx-scatter-gather", "", "rx-gro"])
    assert ethtool._decode_strings(data, 3) == ["tx-scatter-gather", "", "rx-gro"]
    assert ethtool._decode_strings(data, 2) == ["tx-scatter-gather", ""]


def test_decode_features_fixed_requested_and_gaps():
    names = ["a", "", "c", "d"] + [f"x{i}" for i in range(28)] + ["second-block"]
    # block 0: a changeable and on; c fixed off (not available); d available but never_changed
    block0 = ethtool._FEATURES_BLOCK.pack(0b1001, 0b0001, 0b1001, 0b1000)
    block1 = ethtool._FEATURES_BLOCK.pack(1, 0, 0, 0)
    data = ethtool._GFEATURES.pack(ethtool.ETHTOOL_GFEATURES, 2) + block0 + block1
    got = ethtool._decode_features(names, data)
    assert "" not in got
    assert got["a"] == {"active": True, "requested": True, "fixed": False}
    assert got["c"] == {"active": False, "requested": False, "fixed": True}
    assert got["d"] == {"active": True, "requested": False, "fixed": True}
    assert got["second-block"] == {"active": False, "requested": False, "fixed": False}
    # a kernel that returns fewer blocks than names: the rest is left out, not invented
    short = ethtool._GFEATURES.pack(ethtool.ETHTOOL_GFEATURES, 1) + block0
    assert "second-block" not in ethtool._decode_features(names, short)


def test_decode_pflags():
    data = ethtool._VALUE.pack(ethtool.ETHTOOL_GPFLAGS, 0b101)
    assert ethtool._decode_pflags(["rx_cqe_moder", "tx_cqe_moder", "rx_striding_rq"], data) == {
        "rx_cqe_moder": True, "tx_cqe_moder": False, "rx_striding_rq": True}


def test_legacy_feature_state():
    feats = {"tx-checksum-ipv4": {"active": False, "requested": False, "fixed": True},
             "tx-checksum-ip-generic": {"active": True, "requested": True, "fixed": False},
             "rx-gro": {"active": False, "requested": False, "fixed": False}}
    assert ethtool.legacy_feature_state(feats, "tx") is True
    assert ethtool.legacy_feature_state(feats, "gro") is False
    assert ethtool.legacy_feature_state(feats, "lro") is None
    assert set(ethtool.LEGACY_FEATURES) == set(ethtool.LEGACY_FEATURE_LABELS)
    for short in ("gro", "gso", "tso", "lro", "rx", "tx", "sg", "rxvlan", "txvlan", "ntuple",
                  "rxhash"):
        assert ethtool.LEGACY_FEATURES[short]


# ------------------------------------------------------------------ names


@pytest.mark.parametrize("name", ["x" * 40, "x" * 16, "", "a/b", "a:b", "a b", "a\0b", ".", None,
                                  b"eth0"])
def test_bad_names_raise_missing(name):
    with pytest.raises(Missing) as info:
        ethtool.driver_info(name)
    assert "invalid interface name" in info.value.reason
    with pytest.raises(Missing):
        ethtool.link_settings(name)
    with pytest.raises(Missing):
        ethtool.features(name)


def test_fifteen_bytes_is_a_valid_name_length():
    with pytest.raises(Missing) as info:
        ethtool.channels("nosuchif0123456")  # 15 bytes: reaches the kernel, which has no such
    assert info.value.reason == os.strerror(errno.ENODEV)


# ------------------------------------------------------------------ against a fake kernel


class FakeKernel:
    """Stands in for `_ioctl`: records each command and answers from a table."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, name, request):
        cmd = struct.unpack_from("@I", request)[0]
        self.calls.append((cmd, len(request)))
        answer = self.answers[cmd]
        if isinstance(answer, int):
            raise OSError(answer, os.strerror(answer))
        return answer(request)


def test_link_settings_handshake(monkeypatch):
    def glinksettings(request):
        nwords = ethtool._LINK_SETTINGS.unpack_from(request)[9]
        if nwords != 4:  # the kernel's answer to a wrong size: -size, everything else zero
            return link_settings_header(0, 0, 0, 0, -4)
        assert len(request) == 48 + 3 * 4 * 4
        return link_settings_header(100000, 1, 0x05, 0, 4) + bytes(48)

    fake = FakeKernel({ethtool.ETHTOOL_GLINKSETTINGS: glinksettings})
    monkeypatch.setattr(ethtool, "_ioctl", fake)
    assert ethtool.link_settings("eth9") == {"speed": 100000, "duplex": "full",
                                             "autoneg": False, "port": "da",
                                             "source": "GLINKSETTINGS"}
    assert [cmd for cmd, _size in fake.calls] == [ethtool.ETHTOOL_GLINKSETTINGS] * 2


def test_link_settings_falls_back_to_gset(monkeypatch):
    def gset(request):
        return ethtool._CMD.pack(ethtool.ETHTOOL_GSET, 0, 0, 10000, 1, 0, 0, 0, 1, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0)

    fake = FakeKernel({ethtool.ETHTOOL_GLINKSETTINGS: errno.EOPNOTSUPP, ethtool.ETHTOOL_GSET: gset})
    monkeypatch.setattr(ethtool, "_ioctl", fake)
    got = ethtool.link_settings("eth9")
    assert got == {"speed": 10000, "duplex": "full", "autoneg": True, "port": "tp",
                   "source": "GSET"}


def test_link_settings_other_errors_do_not_fall_back(monkeypatch):
    fake = FakeKernel({ethtool.ETHTOOL_GLINKSETTINGS: errno.ENODEV})
    monkeypatch.setattr(ethtool, "_ioctl", fake)
    with pytest.raises(Missing) as info:
        ethtool.link_settings("eth9")
    assert info.value.reason == os.strerror(errno.ENODEV)
    assert len(fake.calls) == 1


def test_private_flags_skip_gpflags_without_strings(monkeypatch):
    def sset_info(request):
        return ethtool._SSET_INFO.pack(ethtool.ETHTOOL_GSSET_INFO, 0, 0) + bytes(4)

    fake = FakeKernel({ethtool.ETHTOOL_GSSET_INFO: sset_info})
    monkeypatch.setattr(ethtool, "_ioctl", fake)
    assert ethtool.private_flags("eth9") == {}
    assert [cmd for cmd, _size in fake.calls] == [ethtool.ETHTOOL_GSSET_INFO]


def test_private_flags_from_strings(monkeypatch):
    names = ["rx_cqe_moder", "tx_cqe_moder", "rx_cqe_compress"]

    def sset_info(request):
        return ethtool._SSET_INFO.pack(ethtool.ETHTOOL_GSSET_INFO, 0, 1 << 2) + struct.pack(
            "@I", len(names))

    def strings(request):
        assert ethtool._GSTRINGS.unpack_from(request)[1:] == (2, len(names))
        return gstrings(2, names, room=(len(request) - 12) // 32)

    fake = FakeKernel({ethtool.ETHTOOL_GSSET_INFO: sset_info, ethtool.ETHTOOL_GSTRINGS: strings,
                       ethtool.ETHTOOL_GPFLAGS: lambda r: ethtool._VALUE.pack(0x27, 0b011)})
    monkeypatch.setattr(ethtool, "_ioctl", fake)
    assert ethtool.private_flags("eth9") == {"rx_cqe_moder": True, "tx_cqe_moder": True,
                                             "rx_cqe_compress": False}


def test_strings_retry_when_the_set_changed(monkeypatch):
    sizes = iter([3, 2])

    def sset_info(request):
        return ethtool._SSET_INFO.pack(ethtool.ETHTOOL_GSSET_INFO, 0, 1 << 2) + struct.pack(
            "@I", next(sizes))

    def strings(request):
        asked = ethtool._GSTRINGS.unpack_from(request)[2]
        if asked != 2:  # a 6.19+ kernel: len differs from the set's size -> len 0
            return ethtool._GSTRINGS.pack(ethtool.ETHTOOL_GSTRINGS, 2, 0) + bytes(len(request) - 12)
        return gstrings(2, ["a", "b"], room=(len(request) - 12) // 32)

    fake = FakeKernel({ethtool.ETHTOOL_GSSET_INFO: sset_info, ethtool.ETHTOOL_GSTRINGS: strings,
                       ethtool.ETHTOOL_GPFLAGS: lambda r: ethtool._VALUE.pack(0x27, 0b10)})
    monkeypatch.setattr(ethtool, "_ioctl", fake)
    assert ethtool.private_flags("eth9") == {"a": False, "b": True}


def test_ioctl_refuses_set_commands():
    with pytest.raises(ValueError):
        ethtool._ioctl(b"lo", struct.pack("@II", 0x0F, 0))  # ETHTOOL_SCOALESCE


# ------------------------------------------------------------------ this machine


def _record_commands(monkeypatch):
    seen = []
    real = ethtool._ioctl

    def recording(name, request):
        seen.append(struct.unpack_from("@I", request)[0])
        return real(name, request)

    monkeypatch.setattr(ethtool, "_ioctl", recording)
    return seen


@needs_eth0
def test_eth0_driver_matches_sysfs():
    target = os.readlink(os.path.join(SYS_NET, "eth0", "device", "driver"))
    info = ethtool.driver_info("eth0")
    assert info["driver"] == os.path.basename(target)
    assert isinstance(info["n_stats"], int)


@needs_lo
def test_lo_driver_info_works_or_is_missing():
    try:
        info = ethtool.driver_info("lo")
    except Missing as exc:
        assert exc.reason  # e.g. "Operation not supported": lo has no driver
    else:
        assert isinstance(info["driver"], str)


@needs_eth0
def test_eth0_channels_agree_with_sysfs_queues():
    got = ethtool.channels("eth0")
    for group in ("current", "max"):
        assert set(got[group]) == {"rx", "tx", "other", "combined"}
        assert all(isinstance(v, int) and v >= 0 for v in got[group].values())
    for key in got["current"]:
        assert got["current"][key] <= got["max"][key]
    rx_queues = [q for q in os.listdir(os.path.join(SYS_NET, "eth0", "queues"))
                 if q.startswith("rx-")]
    if got["current"]["combined"] and not got["current"]["rx"]:
        assert got["current"]["combined"] == len(rx_queues)


@needs_eth0
def test_eth0_features():
    feats = ethtool.features("eth0")
    assert "rx-gro" in feats and "tx-scatter-gather" in feats
    for state in feats.values():
        assert set(state) == {"active", "requested", "fixed"}
        assert all(isinstance(v, bool) for v in state.values())
    for short, names in ethtool.LEGACY_FEATURES.items():
        if short != "ufo":  # gone since Linux 4.14
            assert set(names) <= set(feats), short


@needs_eth0
def test_eth0_rings_coalesce_link_shapes():
    try:
        rings = ethtool.rings("eth0")
    except Missing:
        pass
    else:
        assert set(rings["current"]) == {"rx", "rx_mini", "rx_jumbo", "tx"}
    try:
        coal = ethtool.coalesce("eth0")
    except Missing:
        pass
    else:
        assert set(coal) == {name for _field, name in ethtool.COALESCE_FIELDS}
        assert isinstance(coal["adaptive-rx"], bool)
    try:
        link = ethtool.link_settings("eth0")
    except Missing:
        pass
    else:
        assert link["speed"] is None or link["speed"] > 0
        assert link["duplex"] in ("full", "half", None)
        assert isinstance(link["autoneg"], bool)


@needs_lo
def test_lo_timestamping_is_software():
    ts = ethtool.timestamping("lo")
    assert ts["phc_index"] is None
    assert "software-receive" in ts["so_timestamping"]
    assert "software-system-clock" in ts["so_timestamping"]
    assert not any(name.startswith("hardware-") for name in ts["so_timestamping"])


def test_unknown_interface_is_missing():
    for func in (ethtool.driver_info, ethtool.link_settings, ethtool.rings, ethtool.channels,
                 ethtool.coalesce, ethtool.pause, ethtool.timestamping, ethtool.features,
                 ethtool.private_flags):
        with pytest.raises(Missing) as info:
            func("nosuchif0")
        assert info.value.reason == os.strerror(errno.ENODEV), func.__name__
        assert "nosuchif0" in info.value.path


@pytest.mark.parametrize("ifname", ["eth0", "lo", "nosuchif0", "x" * 40])
def test_read_all_never_raises(ifname, monkeypatch):
    if ifname in ("eth0", "lo") and not have(ifname):
        pytest.skip(f"no {ifname}")
    seen = _record_commands(monkeypatch)
    got = ethtool.read_all(ifname)
    assert list(got) == ["driver_info", "link", "rings", "channels", "coalesce", "pause",
                         "timestamping", "features", "private_flags"]
    json.dumps(got)
    if not have(ifname):
        assert all(set(part) == {"error"} for part in got.values())
    assert set(seen) <= ethtool._GET_COMMANDS
