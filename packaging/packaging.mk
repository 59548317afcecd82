# Packaging: `make install DESTDIR=...` (the RPM's file layout), `make srpm`, `make rpm`,
# `make rpmlint`. The top-level Makefile includes this file; lltune.spec runs it directly
# (`make -f packaging/packaging.mk generated|install-data ...`) with the directories from its
# rpm macros, so the RPM and `make install` share one set of install rules.
# packaging/README.md says how to build the RPM and where it lands.

.PHONY: install install-python install-data install-docs generated tarball bundled-sources rpm \
	srpm rpmlint rpm-tools

# The interpreter the package is built for: RHEL's and Debian's system python3 (not a venv's,
# whose path would end up in /usr/bin/lltune's shebang).
PKG_PYTHON ?= /usr/bin/python3
# Build products (generated files, the rpmbuild tree, the private rpm database) and results.
PKG_BUILDDIR ?= build
PKG_DISTDIR ?= dist

# The RPM's layout, RHEL 9's values (GNU-style names; lltune.spec passes its macros' values).
prefix ?= /usr
bindir ?= $(prefix)/bin
libexecdir ?= $(prefix)/libexec
unitdir ?= $(prefix)/lib/systemd/system
# tuned <= 2.22 (RHEL 9); tuned >= 2.23 (RHEL 10): $(prefix)/lib/tuned/profiles
tunedprofilesdir ?= $(prefix)/lib/tuned
sysconfdir ?= /etc
sharedstatedir ?= /var/lib
datadir ?= $(prefix)/share
mandir ?= $(datadir)/man
bashcompletionsdir ?= $(datadir)/bash-completion/completions
docdir ?= $(datadir)/doc/lltune
licensedir ?= $(datadir)/licenses/lltune

INSTALL ?= install
# DESTDIR made absolute: some rules run from inside a subdirectory (`make install DESTDIR=tmp`).
PKG_DEST = $(if $(DESTDIR),$(abspath $(DESTDIR)))
PKG_GEN = $(PKG_BUILDDIR)/generated
# The one place the version lives; read without importing the package.
LLTUNE_VERSION = $(shell sed -n 's/^__version__ = "\([^"]*\)"$$/\1/p' lltune/__init__.py)
# What the source tarball holds: what the spec builds from, and nothing else (no tests, no
# venvs). Missing paths are skipped.
PKG_SOURCES = LICENSE README.md Makefile pyproject.toml setup.cfg setup.py lltune.spec \
	lltune packaging tuned-profile libexec systemd examples
PKG_TARBALL = $(PKG_BUILDDIR)/rpmbuild/SOURCES/lltune-$(LLTUNE_VERSION).tar.gz
# Unit file types installed from systemd/ (the spec lists the names: lltune_units).
PKG_UNIT_GLOBS = systemd/*.service systemd/*.timer systemd/*.socket systemd/*.path \
	systemd/*.target

# --- make install ---------------------------------------------------------------------------

install: install-python install-data install-docs

# What the spec's %pyproject_wheel and %pyproject_install do (packaging/pyproject-compat.py):
# a wheel built without build isolation, installed with RHEL's site-packages layout
# ($(prefix)/lib/python3.X/site-packages), `#!PKG_PYTHON -s` scripts, byte-compiled (.pyc,
# .opt-1.pyc) as RHEL's packages are. Built from a copy of the Python sources under
# $(PKG_BUILDDIR), so setuptools' build/ and egg-info never land in the working tree.
# The RPM's bundled dbus-next is not installed: this is an install for a host that has one.
PKG_PYTHON_SOURCES = lltune setup.cfg setup.py pyproject.toml README.md LICENSE
PKG_COMPAT = $(PKG_PYTHON) -B "$(abspath packaging/pyproject-compat.py)"
install-python:
	rm -rf "$(PKG_BUILDDIR)/python"
	mkdir -p "$(PKG_BUILDDIR)/python/src"
	tar -c --exclude=__pycache__ --exclude='*.pyc' $(wildcard $(PKG_PYTHON_SOURCES)) | \
		tar -x -C "$(PKG_BUILDDIR)/python/src"
	cd "$(PKG_BUILDDIR)/python/src" && $(PKG_COMPAT) wheel "$(abspath $(PKG_BUILDDIR))/python/wheel"
	$(PKG_COMPAT) install "$(or $(PKG_DEST),/)" "$(prefix)" "$(abspath $(PKG_BUILDDIR))/python/wheel"

# Everything but the Python package and the docs: what lltune.spec's %install runs. The tuned
# profile is installed as a whole directory; its scripts (executable in the tree, or *.sh) 0755.
install-data: generated
	$(INSTALL) -d -m 0755 "$(PKG_DEST)$(libexecdir)/lltune"
	for file in libexec/*; do \
		[ -f "$$file" ] || continue; \
		$(INSTALL) -m 0755 "$$file" "$(PKG_DEST)$(libexecdir)/lltune/" || exit 1; \
	done
	cd tuned-profile/lltune && find . -type d | sort | while read -r dir; do \
		$(INSTALL) -d -m 0755 "$(PKG_DEST)$(tunedprofilesdir)/lltune/$$dir" || exit 1; \
	done
	cd tuned-profile/lltune && find . -type f | sort | while read -r file; do \
		mode=0644; if [ -x "$$file" ] || [ "$${file%.sh}" != "$$file" ]; then mode=0755; fi; \
		$(INSTALL) -m $$mode "$$file" "$(PKG_DEST)$(tunedprofilesdir)/lltune/$$file" || exit 1; \
	done
	# Profile variables (/etc/tuned/NAME-variables.conf, as cpu-partitioning has): config,
	# never overwritten once there (the RPM marks them %config(noreplace)).
	$(INSTALL) -d -m 0755 "$(PKG_DEST)$(sysconfdir)/tuned"
	for file in tuned-profile/*-variables.conf; do \
		[ -f "$$file" ] || continue; \
		target="$(PKG_DEST)$(sysconfdir)/tuned/$${file##*/}"; \
		if [ -e "$$target" ]; then echo "kept $$target"; continue; fi; \
		$(INSTALL) -m 0644 "$$file" "$$target" || exit 1; \
	done
	$(INSTALL) -d -m 0755 "$(PKG_DEST)$(unitdir)"
	for unit in $(wildcard $(PKG_UNIT_GLOBS)); do \
		$(INSTALL) -m 0644 "$$unit" "$(PKG_DEST)$(unitdir)/" || exit 1; \
	done
	$(INSTALL) -d -m 0755 "$(PKG_DEST)$(sysconfdir)/lltune"
	$(INSTALL) -d -m 0700 "$(PKG_DEST)$(sharedstatedir)/lltune"
	$(INSTALL) -d -m 0755 "$(PKG_DEST)$(mandir)/man1"
	gzip -9 -n -c "$(PKG_GEN)/lltune.1" > "$(PKG_DEST)$(mandir)/man1/lltune.1.gz"
	chmod 0644 "$(PKG_DEST)$(mandir)/man1/lltune.1.gz"
	$(INSTALL) -d -m 0755 "$(PKG_DEST)$(bashcompletionsdir)"
	$(INSTALL) -m 0644 "$(PKG_GEN)/lltune.bash" "$(PKG_DEST)$(bashcompletionsdir)/lltune"

# What rpm's %doc and %license put in place.
install-docs:
	$(INSTALL) -d -m 0755 "$(PKG_DEST)$(docdir)/examples" "$(PKG_DEST)$(licensedir)"
	$(INSTALL) -m 0644 README.md "$(PKG_DEST)$(docdir)/"
	for file in examples/*; do \
		[ -f "$$file" ] || continue; \
		$(INSTALL) -m 0644 "$$file" "$(PKG_DEST)$(docdir)/examples/" || exit 1; \
	done
	$(INSTALL) -m 0644 LICENSE "$(PKG_DEST)$(licensedir)/"

# lltune(1) and the bash completion, from the argument parser.
generated: $(PKG_GEN)/lltune.1 $(PKG_GEN)/lltune.bash

$(PKG_GEN)/lltune.1: $(wildcard lltune/*.py lltune/*/*.py)
	mkdir -p "$(@D)"
	$(PKG_PYTHON) -m lltune.cli.manpage > "$@.tmp"
	mv "$@.tmp" "$@"

$(PKG_GEN)/lltune.bash: $(wildcard lltune/*.py lltune/*/*.py)
	mkdir -p "$(@D)"
	$(PKG_PYTHON) -m lltune.cli.manpage --bash-completion > "$@.tmp"
	mv "$@.tmp" "$@"

# --- RPM ------------------------------------------------------------------------------------

# rpm and rpmlint from Debian's packages when they are missing (only on Debian); pip, setuptools
# and wheel for the pyproject build (packaging/rpm-macros.debian), packaging for rpm's Python
# dependency generator (pythondistdeps.py) and the BuildRequires; pip also downloads the bundled
# sdist.
PKG_APT_TOOLS = rpm rpmlint cpio python3-pip python3-setuptools python3-wheel python3-packaging
rpm-tools:
	@if [ -e /etc/debian_version ]; then \
		tests/ensure-apt-packages $(PKG_APT_TOOLS); \
	fi

# The source tarball, deterministic: the tree as git sees it (tracked files plus new ones not
# ignored), or every file when this is not a git checkout.
tarball: rpm-tools
	@test -n "$(LLTUNE_VERSION)" || { echo "no __version__ in lltune/__init__.py" >&2; exit 1; }
	mkdir -p "$(dir $(PKG_TARBALL))"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		files=$$(git ls-files --cached --others --exclude-standard -- $(PKG_SOURCES)); \
		epoch=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)}; \
	else \
		files=$$(find $(wildcard $(PKG_SOURCES)) -type f ! -name '*.pyc' \
			! -path '*/__pycache__/*'); \
		epoch=$${SOURCE_DATE_EPOCH:-$$(find $$files -printf '%T@\n' | sort -n | \
			tail -n 1 | cut -d. -f1)}; \
	fi; \
	for file in $$files; do [ ! -e "$$file" ] || printf '%s\n' "$$file"; done \
		> "$(PKG_TARBALL).files"; \
	tar --create --no-recursion --files-from="$(PKG_TARBALL).files" --sort=name \
		--format=gnu --owner=0 --group=0 --numeric-owner --mtime=@$$epoch \
		--transform 's,^,lltune-$(LLTUNE_VERSION)/,' --use-compress-program='gzip -9 -n' \
		--file="$(PKG_TARBALL).tmp"
	rm -f "$(PKG_TARBALL).files"
	mv "$(PKG_TARBALL).tmp" "$(PKG_TARBALL)"

# The bundled dbus-next sdist (the spec's Source1): downloaded once into $(PKG_DOWNLOADDIR) by
# pip, by project name and version, then copied next to the tarball. Its sha256 is pinned in
# packaging/sources.sha256: pip checks it before it unpacks anything (hash-checking mode), and
# the copy is checked again on every build, so neither a changed upload nor a stale or
# tampered local file gets built; the file itself is never committed. PKG_PIP_DOWNLOAD_OPTIONS
# adds pip options (offline: --no-index --find-links DIR).
# BUNDLED_DBUS_NEXT: empty, the spec decides (bundled but on Fedora); yes or no force it
# (--with/--without bundled_dbus_next; no needs no download).
BUNDLED_DBUS_NEXT ?=
PKG_DOWNLOADDIR ?= $(PKG_BUILDDIR)/downloads
PKG_SOURCEDIR = $(PKG_BUILDDIR)/rpmbuild/SOURCES
PKG_SHA256 = packaging/sources.sha256
PKG_PIP_DOWNLOAD_OPTIONS ?=
DBUS_NEXT_VERSION = $(shell sed -n 's/^%global dbus_next_version //p' lltune.spec)
# What %{pypi_source dbus_next VERSION} names.
DBUS_NEXT_SDIST = dbus_next-$(DBUS_NEXT_VERSION).tar.gz
bundled-sources: rpm-tools
ifneq ($(BUNDLED_DBUS_NEXT),no)
	@test -n "$(DBUS_NEXT_VERSION)" || { echo "lltune.spec names no dbus_next_version" >&2; exit 1; }
	@grep -q '^[0-9a-f]\{64\}  $(DBUS_NEXT_SDIST)$$' $(PKG_SHA256) || \
		{ echo "$(PKG_SHA256) pins no sha256 for $(DBUS_NEXT_SDIST)" >&2; exit 1; }
	mkdir -p "$(PKG_DOWNLOADDIR)" "$(PKG_SOURCEDIR)"
	@pin=$$(grep '  $(DBUS_NEXT_SDIST)$$' $(PKG_SHA256)); \
	check() { (cd "$$1" && printf '%s\n' "$$pin" | sha256sum --check --strict --quiet); }; \
	if ! check "$(PKG_DOWNLOADDIR)" 2>/dev/null; then \
		rm -f "$(PKG_DOWNLOADDIR)/$(DBUS_NEXT_SDIST)"; \
		echo "downloading dbus-next $(DBUS_NEXT_VERSION) (sdist) with pip"; \
		printf 'dbus-next==%s --hash=sha256:%s\n' "$(DBUS_NEXT_VERSION)" "$${pin%% *}" \
			> "$(PKG_DOWNLOADDIR)/requirements.txt"; \
		$(PKG_PYTHON) -m pip download --no-deps --no-binary :all: --no-build-isolation \
			--require-hashes --disable-pip-version-check --quiet \
			$(PKG_PIP_DOWNLOAD_OPTIONS) --dest "$(PKG_DOWNLOADDIR)" \
			-r "$(PKG_DOWNLOADDIR)/requirements.txt" || \
			{ echo "no dbus-next $(DBUS_NEXT_VERSION) sdist matching $(PKG_SHA256): refused" >&2; \
			  rm -f "$(PKG_DOWNLOADDIR)/$(DBUS_NEXT_SDIST)"; exit 1; }; \
		if ! check "$(PKG_DOWNLOADDIR)"; then \
			rm -f "$(PKG_DOWNLOADDIR)/$(DBUS_NEXT_SDIST)"; \
			echo "the download does not match $(PKG_SHA256): refused" >&2; exit 1; \
		fi; \
	fi; \
	cp "$(PKG_DOWNLOADDIR)/$(DBUS_NEXT_SDIST)" "$(PKG_SOURCEDIR)/$(DBUS_NEXT_SDIST)" && \
		check "$(PKG_SOURCEDIR)" && echo "$(DBUS_NEXT_SDIST): sha256 as pinned"
endif

# tuned's profile layout (see lltune.spec): empty, the distribution's (el9 on RHEL 9 and on
# Debian); el9 or el10 force it. el9 results land in $(PKG_DISTDIR), el10 ones in
# $(PKG_DISTDIR)/el10 (both packages have the same file name).
TUNED_LAYOUT ?=
ifneq ($(filter-out el9 el10,$(TUNED_LAYOUT)),)
$(error TUNED_LAYOUT must be el9 or el10 (or empty), not $(TUNED_LAYOUT))
endif
ifneq ($(filter-out yes no,$(BUNDLED_DBUS_NEXT)),)
$(error BUNDLED_DBUS_NEXT must be yes or no (or empty), not $(BUNDLED_DBUS_NEXT))
endif
PKG_RPMDIR = $(PKG_DISTDIR)$(if $(filter el10,$(TUNED_LAYOUT)),/el10)

# rpmbuild in a private tree under $(PKG_BUILDDIR), results flat in $(PKG_RPMDIR). Where rpm
# lacks RHEL's pyproject macros (Debian 12 and 13): add packaging/rpm-macros.debian to rpm's macro
# path (--macros: rpm 4.20 ignores --load's file when it builds), use a private database, and
# skip the BuildRequires check (nothing is installed as an rpm there). On RHEL the system
# database checks BuildRequires (`dnf builddep lltune.spec` installs them; the dynamic ones
# from %generate_buildrequires need mock or `dnf builddep` on the .buildreqs.nosrc.rpm of
# `rpmbuild -br`).
PKG_RPMBUILD = rpmbuild \
	$$(if [ "$$(rpm --eval '%{?pyproject_wheel:yes}')" != yes ]; then \
		echo --macros="$$(rpm --showrc | sed -n 's/^Macro path: //p'):$(abspath packaging/rpm-macros.debian)" --nodeps \
			--dbpath "$(abspath $(PKG_BUILDDIR))/rpmdb"; fi) \
	--define "_topdir $(abspath $(PKG_BUILDDIR))/rpmbuild" \
	--define "_rpmdir $(abspath $(PKG_RPMDIR))" \
	--define "_srcrpmdir $(abspath $(PKG_RPMDIR))" \
	--define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
	--define "lltune_version $(LLTUNE_VERSION)" \
	$(if $(TUNED_LAYOUT),--define "tuned_layout $(TUNED_LAYOUT)") \
	$(if $(BUNDLED_DBUS_NEXT),$(if $(filter yes,$(BUNDLED_DBUS_NEXT)),--with,--without) \
		bundled_dbus_next)

srpm: tarball bundled-sources
	mkdir -p "$(PKG_RPMDIR)"
	$(PKG_RPMBUILD) -bs lltune.spec

rpm: tarball bundled-sources
	mkdir -p "$(PKG_RPMDIR)"
	$(PKG_RPMBUILD) -ba lltune.spec

# rpmlint on what `make rpm` built (same TUNED_LAYOUT), with the filters for Debian-side noise.
rpmlint: rpm
	rpmlint -r packaging/rpmlintrc \
		"$(PKG_RPMDIR)/lltune-$(LLTUNE_VERSION)-"*.noarch.rpm \
		"$(PKG_RPMDIR)/lltune-$(LLTUNE_VERSION)-"*.src.rpm
