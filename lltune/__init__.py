"""LLTune: low-latency tuning for RHEL 9 family hosts, applied through tuned."""

__version__ = "0.2.0"
