# LLTune developer entry points. `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
PYTHON39 ?= env PYENV_VERSION=3.9.18 python3.9
VENV := .venv
VENV39 := .venv39
PY := $(VENV)/bin/python
PY39 := $(VENV39)/bin/python
# Debian packages the tests need: D-Bus for the private-bus tests, headers for dbus-python and
# systemd-python, rpm tools for the RPM, mmdebstrap and QEMU for the guest system tests.
APT_TEST_PACKAGES := dbus-daemon libdbus-1-dev libglib2.0-dev libsystemd-dev pkg-config gcc \
	python3-dev python3-gi python3-dbus rpm rpmlint cpio python3-setuptools python3-packaging mmdebstrap \
	qemu-system-x86 qemu-utils e2fsprogs python3-pip python3-wheel
DESTDIR ?=

.PHONY: run test unit-test test39 lint system-test bench bench-guest capture-rt-output apt-deps \
	clean

# One venv, two stamps. .stamp: lltune and its runtime dependencies (setup.cfg), all wheels, which
# is all `make run` needs, so it works on a machine with only python3, python3-venv, make and git
# (tests/bare/ checks that). .test-stamp: the test tools on top (tests/requirements.txt), for the
# targets of `make test` only: python-dbusmock needs dbus-python, which builds from source with a
# compiler and the headers that `apt-deps` installs.
$(VENV)/.stamp: setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test-stamp: $(VENV)/.stamp tests/requirements.txt
	$(PY) -m pip install -q -r tests/requirements.txt
	touch $@

$(VENV39)/.stamp: setup.cfg tests/requirements-floor.txt
	$(PYTHON39) -m venv $(VENV39)
	$(PY39) -m pip install -q --upgrade pip
	$(PY39) -m pip install -q -r tests/requirements-floor.txt
	$(PY39) -m pip install -q --no-deps -e .
	touch $@

run: $(VENV)/.stamp
	$(VENV)/bin/lltune scan --output snapshot.yaml --md-report report.md

apt-deps:
	tests/ensure-apt-packages $(APT_TEST_PACKAGES)

lint: $(VENV)/.test-stamp
	$(VENV)/bin/ruff check lltune tests

unit-test: $(VENV)/.test-stamp
	$(PY) -m pytest -q tests/unit tests/integration

test39: $(VENV39)/.stamp
	$(PY39) -m pytest -q -p no:cacheprovider tests/unit tests/integration

system-test: apt-deps $(VENV)/.test-stamp
	$(PY) -m pytest -q tests/system

test: apt-deps lint unit-test test39 system-test

# The host figures, then the guest figure: lltune apply against tuned-adm in the Debian 12
# guest (the flow's set-up test, then the timed one), judged against issue 12's goal.
bench: $(VENV)/.stamp
	$(PY) tests/bench/run_bench.py
	$(MAKE) bench-guest

bench-guest: apt-deps $(VENV)/.test-stamp
	LLTUNE_BENCH=1 LLTUNE_RIG_SUITES=bookworm $(PY) -m pytest -q -s tests/system/test_apply_guest.py \
		-k "test_scan_gen_config_audit or test_bench_lltune_apply_against_tuned_adm"
	$(PY) tests/bench/run_bench.py --guest-result tests/system/results/bench-apply.json

# Real rt-tests and rtla output from both guests (the validate run before apply) into
# tests/unit/validate/fixtures/<suite>/, where the parsers' tests read it.
capture-rt-output: apt-deps $(VENV)/.test-stamp
	LLTUNE_CAPTURE_FIXTURES=1 $(PY) -m pytest -q tests/system/test_apply_guest.py \
		-k "test_scan_gen_config_audit or test_validate_before_apply or \
		test_validate_on_the_realtime_kernel"

clean:
	rm -rf $(VENV) $(VENV39) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis

# RPM, SRPM and `make install DESTDIR=...` (the RPM's file layout) live in their own file.
include packaging/packaging.mk
