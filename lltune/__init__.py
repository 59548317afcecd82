"""LLTune: low-latency tuning for RHEL 9 family hosts, applied through tuned.

One room per stage of the data flow, each importing only from the rooms before it:
common (errors, CPU lists, files, strict parsers), system (D-Bus, tuned, systemd, journal),
model (the snapshot and its queries), host (reading a host into a snapshot), config (knobs,
schema, loader), audit, genconfig, report, tune (plan, render, apply, rollback, verify, hook)
and cli.
"""

__version__ = "0.2.0"
