"""The config: the knob table every setting is declared in, the JSON Schema built from it, the
strict loader, and the small functions that resolve a config on a host (its CPU sets, its
kernel command-line tokens)."""
