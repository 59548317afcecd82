"""What every stage uses: the exception hierarchy and exit codes, the CPU list and mask syntax,
safe reading and writing of files, and the strict YAML and bounded JSON parsers that configs,
snapshots, probes and bundles are read with. Nothing here knows about hosts, configs or tuned."""
