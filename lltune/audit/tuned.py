"""tuned checks: installed, and new enough. Errors only for a snapshot of the live host: a --root
tree or a capture may come from a machine still being prepared, so there they are info."""

from lltune.audit.context import AuditContext
from lltune.model.queries import dig, tuned_version

TUNED_MIN_VERSION = (2, 20)


def check_tuned(a: AuditContext) -> None:
    state = dig(a.snapshot, "services", "tuned") or {}
    severity = None if a.live else "info"
    where = "" if a.live else " (an offline snapshot: checked again on the live host)"
    if state.get("installed") is False:
        a.add("tuned.missing", ("tuned",), "tuned is not installed; lltune applies "
              "everything through it" + where, ["tuned.service: not found"], severity)
        return
    version = tuned_version(a.snapshot)
    if version is None:
        if state.get("installed"):
            a.add("tuned.version-unknown", ("tuned",), "tuned's version could not be read")
    elif version < TUNED_MIN_VERSION:
        a.add("tuned.too-old", ("tuned",), "tuned %s is older than %d.%d" % (
            state.get("version"), TUNED_MIN_VERSION[0], TUNED_MIN_VERSION[1]) + where,
            ["tuned/version.py: %s" % state.get("version")], severity)
