"""tuned checks: installed, new enough, and able to load lltune's profile where it reads
profiles (lltune's base profile and the stock profile it includes must be in tuned's profile
directories). Errors only for a snapshot of the live host: a --root tree or a capture may come
from a machine still being prepared, so there they are info."""

from typing import List

from lltune.audit.context import AuditContext
from lltune.model.profile import PROFILE_NAME as BASE_PROFILE
from lltune.model.queries import dig, tuned_profile_dirs, tuned_version

TUNED_MIN_VERSION = (2, 18)


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
    _check_profiles(a, severity, where)


def _check_profiles(a: AuditContext, severity, where: str) -> None:
    found = dig(a.snapshot, "services", "tuned", "profiles")
    if not isinstance(found, dict):
        return  # a snapshot from before lltune recorded where profiles are
    dirs = tuned_profile_dirs(a.snapshot)
    evidence = ["tuned reads profiles from %s (%s)" % (", ".join(dirs), dig(
        a.snapshot, "services", "tuned", "profile_dirs_source") or "its defaults")]
    # The host profile takes the user directory's lltune/; the base must be in another one.
    base_in: List[str] = [d for d in found.get(BASE_PROFILE) or [] if d != dirs[-1]]
    if not base_in:
        a.add("tuned.base-profile-missing", ("tuned",), "lltune's base profile is not where "
              "this tuned reads profiles: the host profile includes it, so tuned would refuse "
              "to load it; install the lltune package built for this tuned's layout" + where,
              evidence, severity)
    stock = a.value("tuned.base_profile")
    if isinstance(stock, str) and stock in found and not found[stock]:
        a.add("tuned.include-missing", ("tuned", "base_profile"), "tuned profile %s is not "
              "installed where this tuned reads profiles" % stock + where, evidence, severity)
