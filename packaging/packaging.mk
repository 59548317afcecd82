# Packaging targets (install, rpm, srpm): filled in by the RPM work.
.PHONY: install rpm srpm
