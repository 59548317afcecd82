"""Where lltune's host profile lives: `lltune/` in tuned's user profile directory, whichever
layout the host's tuned has (/etc/tuned on RHEL 9, /etc/tuned/profiles on RHEL 10, or what
tuned-main.conf's profile_dirs says), holding tuned.conf and the hook's data."""

import posixpath
from dataclasses import dataclass
from typing import Iterable, Set

PROFILE_NAME = "lltune"
# The user profile directories of tuned's two stock layouts: rollback trusts a bundle's record of
# a host profile only in one of these or in the directory the host's tuned reads now.
STOCK_USER_DIRS = ("/etc/tuned", "/etc/tuned/profiles")


@dataclass(frozen=True)
class HostProfile:
    directory: str  # canonical path, e.g. /etc/tuned/profiles/lltune

    @property
    def tuned_conf(self) -> str:
        return self.directory + "/tuned.conf"

    @property
    def hook_data(self) -> str:
        return self.directory + "/hook-data.json"

    @property
    def files(self) -> tuple:
        return (self.tuned_conf, self.hook_data)


def host_profile(user_dir: str) -> HostProfile:
    return HostProfile(posixpath.join(posixpath.normpath(user_dir), PROFILE_NAME))


def trusted_profiles(live_user_dirs: Iterable[str]) -> Set[str]:
    """Host profile directories rollback may restore files in."""
    return {host_profile(d).directory for d in tuple(STOCK_USER_DIRS) + tuple(live_user_dirs)}
