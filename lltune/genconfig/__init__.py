"""gen-config: a commented config whose every value is chosen from a snapshot. It sits above
audit because it audits what it wrote and lists the findings in the config's header."""
