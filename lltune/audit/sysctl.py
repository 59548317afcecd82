"""Free-form sysctl checks: a name a knob already sets."""

import re

from lltune.audit.context import AuditContext
from lltune.config import knobs


def check_sysctl(a: AuditContext) -> None:
    owned = {}
    for knob in knobs.KNOBS:
        names = []
        if knob.tuned and knob.tuned[0] == "sysctl":
            names.append(knob.tuned[1])
        names += re.findall(r"\[sysctl\] ([a-z0-9_.]+)", knob.mechanism)
        if names and a.value(knob.path) is not None:
            for name in names:
                owned[name] = knob.path
    for name in a.value("sysctl") or {}:
        if name in owned:
            a.add("sysctl.duplicates-knob", ("sysctl", name), "%s is set by %s already; set "
                  "it there (or make that null)" % (name, owned[name]))
