"""Reading a host: the reader (the only code that opens /proc, /sys and /etc, live, under a
root prefix or from a capture bundle), one collector per domain, the scan that assembles a
snapshot, capture bundles, and the ethtool ioctls."""
