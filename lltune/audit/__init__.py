"""audit: a loaded config cross-checked against a snapshot. One module per domain (cpu,
cmdline, memory, network, time, services, sysctl, tuned, safety), the registry of finding codes,
and run.py, which runs every check and formats the result."""
