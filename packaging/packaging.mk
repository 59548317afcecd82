# Packaging: `make install DESTDIR=...` (the RPM's file layout), `make srpm`, `make rpm`,
# `make rpmlint`. The top-level Makefile includes this file; lltune.spec runs it directly
# (`make -f packaging/packaging.mk generated|install-data ...`) with the directories from its
# rpm macros, so the RPM and `make install` share one set of install rules.
# packaging/README.md says how to build the RPM and where it lands.

.PHONY: install install-python install-data install-docs generated tarball rpm srpm rpmlint \
	rpm-tools

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
# RHEL's site-packages for PKG_PYTHON's version (what %{python3_sitelib} says there).
pythonsitelib ?= $(prefix)/lib/python$(shell $(PKG_PYTHON) -c \
	'import sys; print("%d.%d" % sys.version_info[:2])')/site-packages

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

# What %py3_build and %py3_install do on RHEL 9 (setup.cfg through a setup() call, since the
# tree has no setup.py), with RHEL's site-packages layout. Byte-compiled (.pyc, .opt-1.pyc) as
# RHEL's packages are, whatever PYTHONDONTWRITEBYTECODE says.
PKG_SETUP = $(PKG_PYTHON) -c 'from setuptools import setup; setup()'
install-python:
	$(PKG_SETUP) build --build-base "$(PKG_BUILDDIR)/python" --executable="$(PKG_PYTHON) -s"
	PYTHONDONTWRITEBYTECODE= $(PKG_SETUP) build --build-base "$(PKG_BUILDDIR)/python" \
		install -O1 --skip-build --root "$(or $(PKG_DEST),/)" --prefix "$(prefix)" \
		--install-lib "$(pythonsitelib)" --install-scripts "$(bindir)"

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

# rpm and rpmlint from Debian's packages when they are missing (only on Debian); setuptools for
# the build, packaging for rpm's Python dependency generator (pythondistdeps.py).
rpm-tools:
	@if [ -e /etc/debian_version ]; then \
		tests/ensure-apt-packages rpm rpmlint cpio python3-setuptools python3-packaging; \
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

# rpmbuild in a private tree under $(PKG_BUILDDIR), results flat in $(PKG_DISTDIR). Where rpm
# lacks RHEL's macros (Debian): load packaging/rpm-macros.debian, use a private database, and
# skip the BuildRequires check (nothing is installed as an rpm there). On RHEL the system
# database checks BuildRequires (`dnf builddep lltune.spec` installs them).
PKG_RPMBUILD = rpmbuild \
	$$(if [ "$$(rpm --eval '%{?py3_install:yes}')" != yes ]; then \
		echo --load packaging/rpm-macros.debian --nodeps \
			--dbpath "$(abspath $(PKG_BUILDDIR))/rpmdb"; fi) \
	--define "_topdir $(abspath $(PKG_BUILDDIR))/rpmbuild" \
	--define "_rpmdir $(abspath $(PKG_DISTDIR))" \
	--define "_srcrpmdir $(abspath $(PKG_DISTDIR))" \
	--define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
	--define "lltune_version $(LLTUNE_VERSION)"

srpm: tarball
	mkdir -p "$(PKG_DISTDIR)"
	$(PKG_RPMBUILD) -bs lltune.spec

rpm: tarball
	mkdir -p "$(PKG_DISTDIR)"
	$(PKG_RPMBUILD) -ba lltune.spec

# rpmlint on what `make rpm` built, with the filters for Debian-side noise.
rpmlint: rpm
	rpmlint -r packaging/rpmlintrc \
		"$(PKG_DISTDIR)/lltune-$(LLTUNE_VERSION)-"*.noarch.rpm \
		"$(PKG_DISTDIR)/lltune-$(LLTUNE_VERSION)-"*.src.rpm
