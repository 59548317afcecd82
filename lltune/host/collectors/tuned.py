"""tuned: its version, its state, where it reads profiles, and whether its bootloader plugin can
put kernel parameters on the next boot.

Profile directories (tuned/consts.py, tuned/profiles/locator.py): tuned <= 2.22 searches
LOAD_DIRECTORIES (/usr/lib/tuned, /etc/tuned); from 2.23 tuned-main.conf's `profile_dirs`
(split on ',' or ';') replaces it, defaulting to CFG_DEF_PROFILE_DIRS, which the build sets to
/usr/lib/tuned/profiles, /etc/tuned/profiles on RHEL 10 and Fedora and to the old pair on RHEL 9.
The last directory wins a name conflict, so it is where a site's own profiles go. There is no
fallback to the other layout, and no D-Bus call tells the directories: they are read here from
the same two files tuned reads, through the reader.
"""

import ast
import posixpath
import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.host.collectors import ScanContext
from lltune.host.reader import Missing, Reader
from lltune.model.cmdline import split_cmdline

MAIN_CONF = "/etc/tuned/tuned-main.conf"
TUNED_VERSION_FILE = re.compile(r"^TUNED_VERSION_(MAJOR|MINOR|PATCH)\s*=\s*(\d+)", re.M)
_PROFILE_DIRS_LINE = re.compile(r"^[ \t]*profile_dirs[ \t]*=(.*)$", re.M)
# Profiles whose presence audit asks about: lltune's base and the stock ones it may include.
PROFILES_OF_INTEREST = ("lltune", "network-latency", "latency-performance", "network-throughput",
                        "throughput-performance", "realtime", "cpu-partitioning")
# The two layouts tuned has shipped with (used when neither file says, e.g. a bare tree).
OLD_LAYOUT = ["/usr/lib/tuned", "/etc/tuned"]
NEW_LAYOUT = ["/usr/lib/tuned/profiles", "/etc/tuned/profiles"]
GRUBENV_PATHS = ("/boot/grub2/grubenv", "/boot/grub/grubenv")
GRUB_DEFAULTS = "/etc/default/grub"
BLS_DIR = "/boot/loader/entries"


def tuned_module_files(reader: Reader, name: str) -> List[str]:
    """Where tuned's Python module `name` may be (RHEL: python3.N/site-packages, Debian)."""
    candidates = ["/usr/lib/python3/dist-packages/tuned/%s" % name]
    for entry in reader.listdir("/usr/lib", []):
        if re.match(r"^python3\.\d+$", entry):
            candidates.append("/usr/lib/%s/site-packages/tuned/%s" % (entry, name))
    return candidates


def tuned_version(reader: Reader) -> Optional[str]:
    """From tuned's own version.py."""
    for path in tuned_module_files(reader, "version.py"):
        text = reader.read(path, None)
        if text:
            parts = dict(TUNED_VERSION_FILE.findall(text))
            if "MAJOR" in parts and "MINOR" in parts:
                return "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts.get("PATCH", "0"))
    return None


TUNED_UNIT_FILES = ("/usr/lib/systemd/system/tuned.service", "/lib/systemd/system/tuned.service",
                    "/etc/systemd/system/tuned.service")
TUNED_DAEMONS = ("/usr/sbin/tuned", "/sbin/tuned")


def tuned_present(reader: Reader) -> bool:
    """Whether tuned is installed: its unit file, its daemon or its Python package."""
    paths = TUNED_UNIT_FILES + TUNED_DAEMONS + tuple(tuned_module_files(reader, "version.py"))
    return any(reader.realpath(path) is not None for path in paths)


def _split_dirs(value: str) -> List[str]:
    """tuned's GlobalConfig.get_list: split on ',' or ';', blanks stripped, empties dropped."""
    return [item.strip() for item in re.split(r"[,;]", value) if item.strip()]


def dirs_from_main_conf(text: Optional[str]) -> Optional[List[str]]:
    """profile_dirs from tuned-main.conf when it is set (the last assignment counts)."""
    found = _PROFILE_DIRS_LINE.findall(text or "")
    if not found:
        return None
    dirs = _split_dirs(found[-1].split("#", 1)[0])
    return dirs or None


def _string_constants(tree: ast.Module) -> Dict[str, Any]:
    """Top-level NAME = "text" and NAME = [names or texts] of a consts.py, names resolved."""
    values: Dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and
                isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            values[node.targets[0].id] = value.value
        elif isinstance(value, ast.List):
            items = []
            for item in value.elts:
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    items.append(item.value)
                elif isinstance(item, ast.Name) and isinstance(values.get(item.id), str):
                    items.append(values[item.id])
                else:
                    break
            else:
                values[node.targets[0].id] = items
    return values


def dirs_from_consts(text: Optional[str]) -> Optional[List[str]]:
    """The default directory list tuned was built with: CFG_DEF_PROFILE_DIRS (2.23+), else
    LOAD_DIRECTORIES (2.22 and older). The file is parsed, never imported."""
    if not text:
        return None
    try:
        constants = _string_constants(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for name in ("CFG_DEF_PROFILE_DIRS", "LOAD_DIRECTORIES"):
        dirs = constants.get(name)
        if isinstance(dirs, list) and dirs:
            return dirs
    return None


def _has_profile(reader: Reader, directory: str, name: str) -> bool:
    return reader.realpath(posixpath.join(directory, name, "tuned.conf")) is not None


def profile_dirs(reader: Reader) -> Tuple[List[str], str]:
    """tuned's profile directories, lowest precedence first, and which file said so."""
    dirs = dirs_from_main_conf(reader.read(MAIN_CONF, None))
    if dirs:
        return dirs, MAIN_CONF
    for path in tuned_module_files(reader, "consts.py"):
        dirs = dirs_from_consts(reader.read(path, None))
        if dirs:
            return dirs, path
    # Neither file: the layout whose system directory holds tuned's stock profiles.
    if _has_profile(reader, NEW_LAYOUT[0], "balanced"):
        return list(NEW_LAYOUT), "stock profiles in %s" % NEW_LAYOUT[0]
    return list(OLD_LAYOUT), "assumed (no tuned-main.conf profile_dirs, no tuned consts.py)"


def profile_locations(reader: Reader, dirs: List[str]) -> Dict[str, List[str]]:
    """Profile name -> the directories holding it, for the profiles audit asks about."""
    return {name: [d for d in dirs if _has_profile(reader, d, name)]
            for name in PROFILES_OF_INTEREST}


def parse_profile(text: str) -> Dict[str, Dict[str, str]]:
    """A tuned.conf as tuned 2.20+ reads it (configparser, '=' only, no interpolation, later
    duplicates win, `#` comments); section -> option -> raw value (variables not expanded).
    An unreadable file gives {}: tuned would refuse it, and audit says so elsewhere."""
    import configparser

    parser = configparser.ConfigParser(delimiters=("=",), comment_prefixes=("#",),
                                       inline_comment_prefixes=("#",), interpolation=None,
                                       strict=False)
    parser.optionxform = str  # option names are case-sensitive to tuned
    try:
        parser.read_string(text)
    except (configparser.Error, ValueError):
        return {}
    return {section: dict(parser.items(section)) for section in parser.sections()}


def profile_contents(reader: Reader, locations: Dict[str, List[str]]
                     ) -> Dict[str, Dict[str, Dict[str, Dict[str, str]]]]:
    """Profile name -> directory -> its tuned.conf's sections: what lltune's host profile
    inherits (the kernel parameters, sysctls and sections of the profiles it includes)."""
    found: Dict[str, Dict[str, Dict[str, Dict[str, str]]]] = {}
    for name, dirs in locations.items():
        for directory in dirs:
            text = reader.read(posixpath.join(directory, name, "tuned.conf"), None)
            if text is not None:
                found.setdefault(name, {})[directory] = parse_profile(text)
    return found


def grub_default_tokens(text: Optional[str]) -> List[str]:
    """The tokens /etc/default/grub gives every kernel (GRUB_CMDLINE_LINUX and
    GRUB_CMDLINE_LINUX_DEFAULT; a shell file, read for the usual quoted assignments only)."""
    tokens: List[str] = []
    for line in (text or "").splitlines():
        match = re.match(r"""^\s*(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)=(["']?)(.*)\2\s*$""", line)
        if match:
            tokens += [token for token in split_cmdline(match.group(3))
                       if not token.startswith("$")]
    return tokens


def _bootloader(ctx: ScanContext) -> Dict[str, Any]:
    """What decides whether tuned's [bootloader] reaches the next boot (plugin_bootloader.py:
    it disables itself without /etc/grub.d/00_tuned; with BLS, 92-tuned.install adds
    $tuned_params to the entries kernel-install writes, named <machine-id>-<version>.conf)."""
    reader = ctx.reader
    grubenv_path = next((path for path in GRUBENV_PATHS if reader.realpath(path)), None)
    grubenv = reader.read(grubenv_path, None) if grubenv_path else None
    params = re.search(r"^tuned_params=(.*)$", grubenv or "", re.M)
    entries = []
    for name in reader.listdir(BLS_DIR, []):
        if not name.endswith(".conf"):
            continue
        text = reader.read("%s/%s" % (BLS_DIR, name), None) or ""
        options = " ".join(line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
                           for line in text.splitlines() if line.startswith("options"))
        owner = re.match(r"^([0-9a-f]{32})-", name)
        entries.append({"name": name, "machine_id": owner.group(1) if owner else None,
                        "tuned_params": "$tuned_params" in options,
                        "options": [token for token in split_cmdline(options)
                                    if not token.startswith("$")]})
    return {
        "grub_tuned_script": reader.realpath("/etc/grub.d/00_tuned") is not None,
        "grubenv": grubenv_path,
        "grubenv_tuned_params": params.group(1).strip() if params else None,
        "bls_entries": entries,
        "machine_id": ctx.text("/etc/machine-id") or None,
        "grub_cmdline": grub_default_tokens(reader.read(GRUB_DEFAULTS, None)),
    }


def _tuned_over_dbus() -> Dict[str, Any]:
    from lltune.system.dbus import TUNED, BusUnavailable, CallFailed, SystemBus

    try:
        with SystemBus(timeout=3.0) as bus:
            # Never start tuned by asking it: a stopped tuned is the admin's decision.
            active = bus.call(*TUNED, "active_profile", autostart=False)[0]
            mode = bus.call(*TUNED, "profile_mode", autostart=False)[0]
            return {"active_profile": active, "profile_mode": mode[0] if mode else None}
    except (BusUnavailable, CallFailed) as exc:
        raise Missing("dbus:tuned", str(exc)) from None


def tuned_state(ctx: ScanContext, units: Dict[str, Any]) -> Dict[str, Any]:
    boot = ctx.text("/etc/tuned/bootcmdline")
    boot_cmdline = None
    if boot:
        match = re.search(r'^TUNED_BOOT_CMDLINE="?(.*?)"?$', boot, re.M)
        boot_cmdline = match.group(1) if match else None
    unit = units.get("tuned.service", {})
    dirs, dirs_source = profile_dirs(ctx.reader)
    locations = profile_locations(ctx.reader, dirs)
    state = {
        "installed": unit.get("load") not in (None, "not-found"),
        "running": None if unit.get("active") is None else unit["active"] == "active",
        "version": tuned_version(ctx.reader),
        "active_profile": ctx.text("/etc/tuned/active_profile"),
        "profile_mode": ctx.text("/etc/tuned/profile_mode"),
        "boot_cmdline": boot_cmdline,
        "profile_dirs": dirs,
        "profile_dirs_source": dirs_source,
        "profiles": locations,
        "profile_contents": profile_contents(ctx.reader, locations),
        "bootloader": _bootloader(ctx),
        "source": "files",
    }
    live = ctx.probe("services", "dbus:tuned", _tuned_over_dbus) if state["running"] else None
    if live and live.get("active_profile"):
        state.update(live, source="dbus")
    return state
