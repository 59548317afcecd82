"""sysctl checks: a free-form name a knob already sets, and a site's sysctl file that tuned
re-applies over the profile (it would win, and tuned's verify fail, without lltune's hook)."""

import re

from lltune.audit.context import AuditContext
from lltune.config import knobs, resolve


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


def check_site_files(a: AuditContext) -> None:
    for conflict in resolve.site_sysctl_conflicts(a.config, a.snapshot):
        path = tuple(conflict.knob.split(".", 1)) if conflict.knob else ("sysctl",)
        setter = ("%s sets" % conflict.knob) if conflict.knob else \
            "an included tuned profile sets"
        a.add("sysctl.site-file-overrides", path, "%s %s = %s, but %s says %s and tuned "
              "writes the site's sysctl files again after the profile: lltune's hook sets %s "
              "back after tuned, and rollback returns it to the site's value" % (
                  setter, conflict.name, conflict.wanted, conflict.where, conflict.site_value,
                  conflict.name), ["%s: %s = %s" % (conflict.where, conflict.name,
                                                    conflict.site_value)])
