"""NIC settings read through the SIOCETHTOOL ioctl, without spawning the ethtool binary.

Read-only: only ETHTOOL_G* (GET) commands are ever issued; `_GET_COMMANDS` lists them and a
test checks that nothing else reaches the kernel. Each public function takes an interface
name and returns a plain JSON-serialisable dict, or raises `Missing(key, reason)` with the
errno text ("No such device", "Operation not supported") when the kernel refuses.

Permissions (net/ethtool/ioctl.c, `__dev_ethtool`): every command used here is in the list
the kernel allows "to be done by anyone" (GSET, GDRVINFO, GCOALESCE, GRINGPARAM,
GPAUSEPARAM, GSSET_INFO, GSTRINGS, GPFLAGS, GFEATURES, GCHANNELS, GET_TS_INFO,
GLINKSETTINGS), so a scan works without root. Commands outside that list need CAP_NET_ADMIN
in the device's network namespace (GREGS, GWOL, GEEPROM, GMODULEINFO, GMODULEEEPROM, the
GET_DUMP_* pair, every S* command); none is used. Older kernels allowed fewer GETs
unprivileged (GLINKSETTINGS joined the list in Linux 4.10; RHEL 9's 5.14 has the list above);
a part refused that way reports "Operation not permitted".

Names (one scheme for the whole module, ethtool's hyphenated spelling, because tuned's
`[net]` plugin options take the same words):
- coalesce: the `ethtool -C` parameter names, which are tuned's `coalesce=` keys
  (`COALESCE_FIELDS`); older `ethtool -c` prints "rx-frame-low" where -C and tuned say
  "rx-frames-low"; we use the latter.
- features: the kernel's own strings (netdev_features_strings in net/ethtool/common.c), which
  `ethtool -k` prints and `ethtool -K` accepts; `LEGACY_FEATURES` maps the short names
  (gro, tso, rx, ...) of `ethtool -K` and tuned's `features=` to them.
- timestamping: the kernel's sof_timestamping_names / ts_tx_type_names / ts_rx_filter_names
  (net/ethtool/common.c), which current ethtool prints for -T.

Not available through the ioctl (netlink-only, ETHTOOL_MSG_*): ring extensions (rx-buf-len,
tcp-data-split, cqe-size, tx-push), coalesce extensions (cqe modes, tx-aggr), per-queue
coalescing, and which coalesce parameters a driver supports (unsupported ones read as 0).
"""

import array
import errno
import fcntl
import os
import socket
import struct
from typing import Any, Callable, Dict, List, Optional, Tuple

from lltune.host.reader import Missing

# include/uapi/linux/sockios.h
SIOCETHTOOL = 0x8946
# include/uapi/linux/if.h
IFNAMSIZ = 16

# include/uapi/linux/ethtool.h: the GET commands this module issues, and nothing else.
ETHTOOL_GSET = 0x01
ETHTOOL_GDRVINFO = 0x03
ETHTOOL_GCOALESCE = 0x0E
ETHTOOL_GRINGPARAM = 0x10
ETHTOOL_GPAUSEPARAM = 0x12
ETHTOOL_GSTRINGS = 0x1B
ETHTOOL_GPFLAGS = 0x27
ETHTOOL_GSSET_INFO = 0x37
ETHTOOL_GFEATURES = 0x3A
ETHTOOL_GCHANNELS = 0x3C
ETHTOOL_GET_TS_INFO = 0x41
ETHTOOL_GLINKSETTINGS = 0x4C
_GET_COMMANDS = frozenset((
    ETHTOOL_GSET, ETHTOOL_GDRVINFO, ETHTOOL_GCOALESCE, ETHTOOL_GRINGPARAM, ETHTOOL_GPAUSEPARAM,
    ETHTOOL_GSTRINGS, ETHTOOL_GPFLAGS, ETHTOOL_GSSET_INFO, ETHTOOL_GFEATURES, ETHTOOL_GCHANNELS,
    ETHTOOL_GET_TS_INFO, ETHTOOL_GLINKSETTINGS))

# enum ethtool_stringset
ETH_SS_PRIV_FLAGS = 2
ETH_SS_FEATURES = 4
ETH_GSTRING_LEN = 32

# The UAPI structs, native layout ("@": the C compiler's alignment on this machine). Every
# one is built from naturally aligned u8/u32/u64 fields, so the layout is the same on x86_64
# and aarch64 (and on 32-bit userland, which the UAPI promises).
_DRVINFO = struct.Struct("@I32s32s32s32s32s12sIIIII")  # struct ethtool_drvinfo, 196 bytes
_CMD = struct.Struct("@IIIHBBBBBBIIHBBI2I")  # struct ethtool_cmd (GSET), 44 bytes
_LINK_SETTINGS = struct.Struct("@IIBBBBBBBbBBBB7I")  # struct ethtool_link_settings, 48 + masks
_RINGPARAM = struct.Struct("@9I")  # struct ethtool_ringparam
_CHANNELS = struct.Struct("@9I")  # struct ethtool_channels
_COALESCE = struct.Struct("@23I")  # struct ethtool_coalesce
_PAUSEPARAM = struct.Struct("@4I")  # struct ethtool_pauseparam
_TS_INFO = struct.Struct("@IIiI3II3I")  # struct ethtool_ts_info (phc_index is __s32)
_SSET_INFO = struct.Struct("@IIQ")  # struct ethtool_sset_info, then __u32 data[]
_GSTRINGS = struct.Struct("@III")  # struct ethtool_gstrings, then ETH_GSTRING_LEN each
_GFEATURES = struct.Struct("@II")  # struct ethtool_gfeatures, then blocks
_FEATURES_BLOCK = struct.Struct("@4I")  # struct ethtool_get_features_block
_VALUE = struct.Struct("@II")  # struct ethtool_value
_U32 = struct.Struct("@I")

# struct ifreq: the name, then a union whose largest member is struct ifmap (two unsigned
# longs, a short and three chars) on LP64; `ifr_data` (a pointer) sits at its start. The
# kernel copies the whole struct (get_user_ifreq), so the request is padded to its size.
_IFR_UNION_SIZE = max(struct.calcsize("@LLHBBB0L"), struct.calcsize("@P"), 16)
_IFREQ_DATA = struct.Struct(f"@{IFNAMSIZ}sP")
_IFREQ_SIZE = IFNAMSIZ + _IFR_UNION_SIZE

# include/uapi/linux/ethtool.h
SPEED_UNKNOWN = 0xFFFFFFFF
_INT_MAX = 0x7FFFFFFF
_DUPLEX = {0x00: "half", 0x01: "full"}  # DUPLEX_UNKNOWN (0xff) -> None
_PORTS = {0x00: "tp", 0x01: "aui", 0x02: "mii", 0x03: "fibre", 0x04: "bnc", 0x05: "da",
          0xEF: "none", 0xFF: "other"}  # PORT_*; ethtool prints "Twisted Pair", "FIBRE", ...

# struct ethtool_coalesce field (in struct order, after cmd) -> the ethtool -C / tuned name.
COALESCE_FIELDS: Tuple[Tuple[str, str], ...] = (
    ("rx_coalesce_usecs", "rx-usecs"),
    ("rx_max_coalesced_frames", "rx-frames"),
    ("rx_coalesce_usecs_irq", "rx-usecs-irq"),
    ("rx_max_coalesced_frames_irq", "rx-frames-irq"),
    ("tx_coalesce_usecs", "tx-usecs"),
    ("tx_max_coalesced_frames", "tx-frames"),
    ("tx_coalesce_usecs_irq", "tx-usecs-irq"),
    ("tx_max_coalesced_frames_irq", "tx-frames-irq"),
    ("stats_block_coalesce_usecs", "stats-block-usecs"),
    ("use_adaptive_rx_coalesce", "adaptive-rx"),
    ("use_adaptive_tx_coalesce", "adaptive-tx"),
    ("pkt_rate_low", "pkt-rate-low"),
    ("rx_coalesce_usecs_low", "rx-usecs-low"),
    ("rx_max_coalesced_frames_low", "rx-frames-low"),
    ("tx_coalesce_usecs_low", "tx-usecs-low"),
    ("tx_max_coalesced_frames_low", "tx-frames-low"),
    ("pkt_rate_high", "pkt-rate-high"),
    ("rx_coalesce_usecs_high", "rx-usecs-high"),
    ("rx_max_coalesced_frames_high", "rx-frames-high"),
    ("tx_coalesce_usecs_high", "tx-usecs-high"),
    ("tx_max_coalesced_frames_high", "tx-frames-high"),
    ("rate_sample_interval", "sample-interval"),
)
_COALESCE_BOOLS = frozenset(("adaptive-rx", "adaptive-tx"))

# Bit names, indexed by bit number (net/ethtool/common.c). Bits beyond a table are "bit-N".
SOF_TIMESTAMPING_NAMES = (
    "hardware-transmit", "software-transmit", "hardware-receive", "software-receive",
    "software-system-clock", "hardware-legacy-clock", "hardware-raw-clock", "option-id",
    "sched-transmit", "ack-transmit", "option-cmsg", "option-tsonly", "option-stats",
    "option-pktinfo", "option-tx-swhw", "bind-phc", "option-id-tcp", "option-rx-filter",
    "tx-completion",
)
TS_TX_TYPE_NAMES = ("off", "on", "onestep-sync", "onestep-p2p")  # enum hwtstamp_tx_types
TS_RX_FILTER_NAMES = (  # enum hwtstamp_rx_filters
    "none", "all", "some", "ptpv1-l4-event", "ptpv1-l4-sync", "ptpv1-l4-delay-req",
    "ptpv2-l4-event", "ptpv2-l4-sync", "ptpv2-l4-delay-req", "ptpv2-l2-event", "ptpv2-l2-sync",
    "ptpv2-l2-delay-req", "ptpv2-event", "ptpv2-sync", "ptpv2-delay-req", "ntp-all",
)

# The short names `ethtool -K` and tuned's `[net] features=` accept, and the kernel feature
# strings each one stands for (ethtool's off_flag_def matches them by pattern: "tx-checksum-*",
# "tx-scatter-gather*", "tx-tcp*-segmentation"; these are the strings current kernels have).
# "ufo" has had no kernel feature since Linux 4.14 removed UDP fragmentation offload.
LEGACY_FEATURES: Dict[str, Tuple[str, ...]] = {
    "rx": ("rx-checksum",),
    "tx": ("tx-checksum-ipv4", "tx-checksum-ip-generic", "tx-checksum-ipv6",
           "tx-checksum-fcoe-crc", "tx-checksum-sctp"),
    "sg": ("tx-scatter-gather", "tx-scatter-gather-fraglist"),
    "tso": ("tx-tcp-segmentation", "tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation",
            "tx-tcp6-segmentation"),
    "ufo": ("tx-udp-fragmentation",),
    "gso": ("tx-generic-segmentation",),
    "gro": ("rx-gro",),
    "lro": ("rx-lro",),
    "rxvlan": ("rx-vlan-hw-parse",),
    "txvlan": ("tx-vlan-hw-insert",),
    "ntuple": ("rx-ntuple-filter",),
    "rxhash": ("rx-hashing",),
}
# The label `ethtool -k` prints for each short name (tuned maps these back when it parses it).
LEGACY_FEATURE_LABELS: Dict[str, str] = {
    "rx": "rx-checksumming", "tx": "tx-checksumming", "sg": "scatter-gather",
    "tso": "tcp-segmentation-offload", "ufo": "udp-fragmentation-offload",
    "gso": "generic-segmentation-offload", "gro": "generic-receive-offload",
    "lro": "large-receive-offload", "rxvlan": "rx-vlan-offload", "txvlan": "tx-vlan-offload",
    "ntuple": "ntuple-filters", "rxhash": "receive-hashing",
}


def legacy_feature_state(feats: Dict[str, Dict[str, bool]], short: str) -> Optional[bool]:
    """A short name's state in a `features()` result: on when any of its features is active
    (what the kernel's legacy ETHTOOL_GTXCSUM/GSG/GTSO answer); None when none is present."""
    present = [feats[name]["active"] for name in LEGACY_FEATURES[short] if name in feats]
    return any(present) if present else None


# ---------------------------------------------------------------- the ioctl


def _key(ifname: Any, part: str) -> str:
    return f"ethtool:{ifname}:{part}"


def _ifname_bytes(ifname: Any, part: str) -> bytes:
    """The name as the kernel wants it, or Missing (dev_valid_name, net/core/dev.c)."""
    if not isinstance(ifname, str) or not ifname:
        raise Missing(_key(ifname, part), "invalid interface name")
    name = os.fsencode(ifname)
    if len(name) >= IFNAMSIZ:
        raise Missing(_key(ifname, part),
                      f"invalid interface name (longer than {IFNAMSIZ - 1} bytes)")
    if ifname in (".", "..") or any(ch in ifname for ch in "/:\0") or any(
            ch.isspace() for ch in ifname):
        raise Missing(_key(ifname, part), "invalid interface name")
    return name


def _open_socket() -> socket.socket:
    # Any socket reaches dev_ioctl() for SIOCETHTOOL; AF_INET is what ethtool opens first.
    # A kernel built without IPv4 refuses it, so fall back to AF_UNIX.
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)


def _ioctl(name: bytes, request: bytes) -> bytes:
    """One SIOCETHTOOL call: the kernel reads and rewrites `request` in place. Raises OSError.

    `request` starts with the command; the buffer handed to the kernel has exactly its
    length, and the kernel writes no more than that for the commands in `_GET_COMMANDS`
    when the caller sized it as the UAPI says.
    """
    if _U32.unpack_from(request)[0] not in _GET_COMMANDS:
        raise ValueError("refusing a non-GET ethtool command")  # a bug, never a host fact
    buf = array.array("B", request)
    address = buf.buffer_info()[0]
    ifreq = _IFREQ_DATA.pack(name, address).ljust(_IFREQ_SIZE, b"\0")
    sock = _open_socket()
    try:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    finally:
        sock.close()
    return buf.tobytes()


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _ethtool(ifname: str, part: str, request: bytes) -> bytes:
    """`_ioctl` with the errno turned into Missing(key, errno text)."""
    name = _ifname_bytes(ifname, part)
    try:
        return _ioctl(name, request)
    except OSError as exc:
        raise Missing(_key(ifname, part), _reason(exc)) from None


def _request(fmt: struct.Struct, cmd: int) -> bytes:
    """A zeroed struct with its cmd set."""
    return _U32.pack(cmd) + bytes(fmt.size - _U32.size)


# ---------------------------------------------------------------- pure decoders


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _speed(value: int) -> Optional[int]:
    # 0 and SPEED_UNKNOWN mean "no link / unknown"; ethtool also reads (u16)-1 as unknown,
    # for drivers of the GSET era that set only the low half.
    if value in (0, 0xFFFF, SPEED_UNKNOWN) or value > _INT_MAX:
        return None
    return value


def _decode_drvinfo(data: bytes) -> Dict[str, Any]:
    (_cmd, driver, version, fw_version, bus_info, erom_version, _reserved, n_priv_flags,
     n_stats, testinfo_len, eedump_len, regdump_len) = _DRVINFO.unpack_from(data)
    return {"driver": _cstr(driver), "version": _cstr(version),
            "firmware_version": _cstr(fw_version), "bus_info": _cstr(bus_info),
            "erom_version": _cstr(erom_version), "n_priv_flags": n_priv_flags,
            "n_stats": n_stats, "testinfo_len": testinfo_len, "eedump_len": eedump_len,
            "regdump_len": regdump_len}


def _link(speed: int, duplex: int, autoneg: int, port: int, source: str) -> Dict[str, Any]:
    return {"speed": _speed(speed), "duplex": _DUPLEX.get(duplex), "autoneg": bool(autoneg),
            "port": _PORTS.get(port, f"port-{port}"), "source": source}


def _decode_link_settings(data: bytes) -> Dict[str, Any]:
    fields = _LINK_SETTINGS.unpack_from(data)
    _cmd, speed, duplex, port, _phy, autoneg = fields[:6]
    return _link(speed, duplex, autoneg, port, "GLINKSETTINGS")


def _decode_cmd(data: bytes) -> Dict[str, Any]:
    fields = _CMD.unpack_from(data)
    speed = (fields[12] << 16) | fields[3]  # speed_hi, speed (ethtool_cmd_speed())
    duplex, port, autoneg = fields[4], fields[5], fields[8]
    return _link(speed, duplex, autoneg, port, "GSET")


def _decode_ringparam(data: bytes) -> Dict[str, Dict[str, int]]:
    (_cmd, rx_max, rx_mini_max, rx_jumbo_max, tx_max, rx, rx_mini, rx_jumbo,
     tx) = _RINGPARAM.unpack_from(data)
    return {"current": {"rx": rx, "rx_mini": rx_mini, "rx_jumbo": rx_jumbo, "tx": tx},
            "max": {"rx": rx_max, "rx_mini": rx_mini_max, "rx_jumbo": rx_jumbo_max,
                    "tx": tx_max}}


def _decode_channels(data: bytes) -> Dict[str, Dict[str, int]]:
    (_cmd, max_rx, max_tx, max_other, max_combined, rx, tx, other,
     combined) = _CHANNELS.unpack_from(data)
    return {"current": {"rx": rx, "tx": tx, "other": other, "combined": combined},
            "max": {"rx": max_rx, "tx": max_tx, "other": max_other, "combined": max_combined}}


def _decode_coalesce(data: bytes) -> Dict[str, Any]:
    values = _COALESCE.unpack_from(data)[1:]
    return {name: bool(value) if name in _COALESCE_BOOLS else value
            for (_field, name), value in zip(COALESCE_FIELDS, values)}


def _decode_pause(data: bytes) -> Dict[str, bool]:
    _cmd, autoneg, rx, tx = _PAUSEPARAM.unpack_from(data)
    return {"autoneg": bool(autoneg), "rx": bool(rx), "tx": bool(tx)}


def _bit_names(mask: int, names: Tuple[str, ...]) -> List[str]:
    out = []
    bit = 0
    while mask >> bit:
        if mask >> bit & 1:
            out.append(names[bit] if bit < len(names) else f"bit-{bit}")
        bit += 1
    return out


def _decode_ts_info(data: bytes) -> Dict[str, Any]:
    fields = _TS_INFO.unpack_from(data)
    so_timestamping, phc_index, tx_types, rx_filters = fields[1], fields[2], fields[3], fields[7]
    return {"phc_index": None if phc_index < 0 else phc_index,
            "so_timestamping": _bit_names(so_timestamping, SOF_TIMESTAMPING_NAMES),
            "tx_types": _bit_names(tx_types, TS_TX_TYPE_NAMES),
            "rx_filters": _bit_names(rx_filters, TS_RX_FILTER_NAMES)}


def _decode_sset_count(data: bytes, string_set: int) -> Optional[int]:
    """GSSET_INFO asked about one set: its size, or None when the device has no such set."""
    _cmd, _reserved, mask = _SSET_INFO.unpack_from(data)
    if not mask & (1 << string_set):
        return None
    return _U32.unpack_from(data, _SSET_INFO.size)[0]


def _decode_strings(data: bytes, room: int) -> List[str]:
    """GSTRINGS: `len` names of ETH_GSTRING_LEN bytes, NUL-padded; no more than `room`."""
    count = min(_GSTRINGS.unpack_from(data)[2], room)
    base = _GSTRINGS.size
    return [_cstr(data[base + i * ETH_GSTRING_LEN: base + (i + 1) * ETH_GSTRING_LEN])
            for i in range(count)]


def _decode_features(names: List[str], data: bytes) -> Dict[str, Dict[str, bool]]:
    """GFEATURES blocks against the ETH_SS_FEATURES names: bit i of block i // 32.

    "fixed" is what `ethtool -k` prints as "[fixed]": not in `available` (dev->hw_features,
    the user-changeable set) or in `never_changed` (NETIF_F_NEVER_CHANGE).
    """
    _cmd, size = _GFEATURES.unpack_from(data)
    size = min(size, (len(data) - _GFEATURES.size) // _FEATURES_BLOCK.size)
    blocks = [_FEATURES_BLOCK.unpack_from(data, _GFEATURES.size + i * _FEATURES_BLOCK.size)
              for i in range(size)]
    out = {}
    for index, name in enumerate(names):
        if not name or index // 32 >= len(blocks):
            continue  # an unused bit of the kernel's table, or beyond what it returned
        available, requested, active, never_changed = blocks[index // 32]
        bit = 1 << (index % 32)
        out[name] = {"active": bool(active & bit), "requested": bool(requested & bit),
                     "fixed": not (available & bit) or bool(never_changed & bit)}
    return out


def _decode_pflags(names: List[str], data: bytes) -> Dict[str, bool]:
    value = _VALUE.unpack_from(data)[1]
    return {name: bool(value >> index & 1) for index, name in enumerate(names[:32]) if name}


# ---------------------------------------------------------------- the public API


def driver_info(ifname: str) -> Dict[str, Any]:
    """ETHTOOL_GDRVINFO (`ethtool -i`): {"driver", "version", "firmware_version", "bus_info",
    "erom_version", "n_priv_flags", "n_stats", "testinfo_len", "eedump_len", "regdump_len"}."""
    return _decode_drvinfo(_ethtool(ifname, "GDRVINFO", _request(_DRVINFO, ETHTOOL_GDRVINFO)))


def link_settings(ifname: str) -> Dict[str, Any]:
    """Link state (`ethtool IF`): {"speed": Mb/s or None, "duplex": "full"/"half"/None,
    "autoneg": bool, "port": "tp"/"fibre"/"da"/"other"/..., "source": the command used}.

    ETHTOOL_GLINKSETTINGS first, with its handshake: a request with link_mode_masks_nwords 0
    is answered with minus the number of 32-bit words the kernel's link-mode bitmaps take;
    the second request carries that many words for each of the three bitmaps. Kernels or
    drivers without it (before 4.6) get the legacy ETHTOOL_GSET.
    """
    name = _ifname_bytes(ifname, "GLINKSETTINGS")
    try:
        reply = _ioctl(name, _request(_LINK_SETTINGS, ETHTOOL_GLINKSETTINGS))
        nwords = -_LINK_SETTINGS.unpack_from(reply)[9]
        if nwords <= 0:
            raise Missing(_key(ifname, "GLINKSETTINGS"), "link mode handshake refused")
        # cmd, speed, 7 u8 (duplex .. eth_tp_mdix_ctrl), link_mode_masks_nwords, 4 u8,
        # reserved[7]; then supported, advertising and lp_advertising, nwords u32 each.
        request = _LINK_SETTINGS.pack(ETHTOOL_GLINKSETTINGS, 0, *([0] * 7), nwords,
                                      *([0] * 11)) + bytes(3 * nwords * _U32.size)
        reply = _ioctl(name, request)
        if _LINK_SETTINGS.unpack_from(reply)[9] != nwords:
            raise Missing(_key(ifname, "GLINKSETTINGS"), "link mode handshake failed")
        return _decode_link_settings(reply)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # else try the legacy GSET
            raise Missing(_key(ifname, "GLINKSETTINGS"), _reason(exc)) from None
    return _decode_cmd(_ethtool(ifname, "GSET", _request(_CMD, ETHTOOL_GSET)))


def rings(ifname: str) -> Dict[str, Dict[str, int]]:
    """ETHTOOL_GRINGPARAM (`ethtool -g`): {"current": {"rx", "rx_mini", "rx_jumbo", "tx"},
    "max": {same keys}}; a ring the NIC does not have reads 0."""
    return _decode_ringparam(
        _ethtool(ifname, "GRINGPARAM", _request(_RINGPARAM, ETHTOOL_GRINGPARAM)))


def channels(ifname: str) -> Dict[str, Dict[str, int]]:
    """ETHTOOL_GCHANNELS (`ethtool -l`): {"current": {"rx", "tx", "other", "combined"},
    "max": {same keys}}."""
    return _decode_channels(_ethtool(ifname, "GCHANNELS", _request(_CHANNELS, ETHTOOL_GCHANNELS)))


def coalesce(ifname: str) -> Dict[str, Any]:
    """ETHTOOL_GCOALESCE (`ethtool -c`): every field of struct ethtool_coalesce under its
    `ethtool -C` / tuned `coalesce=` name (COALESCE_FIELDS): ints, and "adaptive-rx" and
    "adaptive-tx" as bools. A parameter the driver does not support reads 0."""
    return _decode_coalesce(_ethtool(ifname, "GCOALESCE", _request(_COALESCE, ETHTOOL_GCOALESCE)))


def pause(ifname: str) -> Dict[str, bool]:
    """ETHTOOL_GPAUSEPARAM (`ethtool -a`): {"autoneg", "rx", "tx"} as bools."""
    return _decode_pause(
        _ethtool(ifname, "GPAUSEPARAM", _request(_PAUSEPARAM, ETHTOOL_GPAUSEPARAM)))


def timestamping(ifname: str) -> Dict[str, Any]:
    """ETHTOOL_GET_TS_INFO (`ethtool -T`): {"phc_index": int or None, "so_timestamping": [...],
    "tx_types": [...], "rx_filters": [...]} with the kernel's names, unknown bits "bit-N"."""
    return _decode_ts_info(
        _ethtool(ifname, "GET_TS_INFO", _request(_TS_INFO, ETHTOOL_GET_TS_INFO)))


def _string_set(ifname: str, string_set: int, part: str) -> List[str]:
    """The names of one string set (GSSET_INFO for its size, then GSTRINGS); [] when none."""
    for _attempt in range(2):
        request = _SSET_INFO.pack(ETHTOOL_GSSET_INFO, 0, 1 << string_set) + bytes(_U32.size)
        count = _decode_sset_count(_ethtool(ifname, part, request), string_set)
        if not count:
            return []
        # `len` must be the set's size: recent kernels (a late-2025 fix to ethtool_get_strings,
        # also in stable series) answer len 0 and no strings when it differs; older ones
        # ignore it and write as many strings as the set has at that moment. Leave room in
        # case a driver's set grew in between, and read no more than we sized.
        room = count + 8
        request = _GSTRINGS.pack(ETHTOOL_GSTRINGS, string_set, count) + bytes(
            room * ETH_GSTRING_LEN)
        names = _decode_strings(_ethtool(ifname, part, request), room)
        if names:
            return names
    raise Missing(_key(ifname, part), "string set changed while being read")


def features(ifname: str) -> Dict[str, Dict[str, bool]]:
    """The offload features (`ethtool -k`): {kernel feature string: {"active", "requested",
    "fixed"}} from ETHTOOL_GSSET_INFO + GSTRINGS (ETH_SS_FEATURES) + ETHTOOL_GFEATURES.
    LEGACY_FEATURES translates ethtool's and tuned's short names (gro, tso, ...)."""
    names = _string_set(ifname, ETH_SS_FEATURES, "GFEATURES")
    if not names:
        raise Missing(_key(ifname, "GFEATURES"), "no feature names")
    nblocks = (len(names) + 31) // 32
    request = _GFEATURES.pack(ETHTOOL_GFEATURES, nblocks) + bytes(nblocks * _FEATURES_BLOCK.size)
    return _decode_features(names, _ethtool(ifname, "GFEATURES", request))


def private_flags(ifname: str) -> Dict[str, bool]:
    """Driver private flags (`ethtool --show-priv-flags`; mlx5, ice, i40e...): {name: bool}
    from ETH_SS_PRIV_FLAGS + ETHTOOL_GPFLAGS; {} when the driver has none."""
    names = _string_set(ifname, ETH_SS_PRIV_FLAGS, "GPFLAGS")
    if not names:
        return {}
    return _decode_pflags(names, _ethtool(ifname, "GPFLAGS", _request(_VALUE, ETHTOOL_GPFLAGS)))


_PARTS: Tuple[Tuple[str, Callable[[str], Dict[str, Any]]], ...] = (
    ("driver_info", driver_info),
    ("link", link_settings),
    ("rings", rings),
    ("channels", channels),
    ("coalesce", coalesce),
    ("pause", pause),
    ("timestamping", timestamping),
    ("features", features),
    ("private_flags", private_flags),
)


def read_all(ifname: str) -> Dict[str, Any]:
    """Every part above under its key; a part the kernel refused is {"error": reason}.

    What the scanner stores per NIC. Never raises Missing.
    """
    out: Dict[str, Any] = {}
    for key, func in _PARTS:
        try:
            out[key] = func(ifname)
        except Missing as exc:
            out[key] = {"error": exc.reason}
    return out
