"""The snapshot: its schema, loading, validation and rendering (YAML and JSON), and the queries
over a snapshot that every later stage asks (CPUs, cores, NUMA nodes, a NIC's node, memory per
node, the kernel command line). Pure functions of plain data."""
