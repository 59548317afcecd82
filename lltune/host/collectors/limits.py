"""Resource limits for latency-critical users: memlock, rtprio, nofile (pam_limits files).

pam_limits reads /etc/security/limits.conf, then /etc/security/limits.d/*.conf in C-locale
order; a later entry for the same domain, type and item wins.
"""

from typing import Any, Dict, List

from lltune.host.collectors import ScanContext

ITEMS = ("memlock", "rtprio", "nofile")
LIMITS_FILE = "/etc/security/limits.conf"
LIMITS_DIR = "/etc/security/limits.d"


def parse_limits(text: str, path: str) -> List[Dict[str, Any]]:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if len(fields) != 4 or fields[2] not in ITEMS:
            continue
        entries.append({"domain": fields[0], "type": fields[1], "item": fields[2],
                        "value": fields[3], "file": path, "line": number})
    return entries


def collect(ctx: ScanContext) -> Dict[str, Any]:
    files = [LIMITS_FILE] + ["%s/%s" % (LIMITS_DIR, name)
                             for name in ctx.reader.listdir(LIMITS_DIR, [])
                             if name.endswith(".conf")]
    entries = []
    found = []
    for path in files:
        text = ctx.reader.read(path, None)
        if text is not None:
            found.append(path)
            entries.extend(parse_limits(text, path))
    return {"limits": {"files": found, "entries": entries}}
