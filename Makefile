# boxen: `make demo` installs and runs the demo; `make test` installs and runs every test.
# `make install` is idempotent: Debian packages, then .venv (from Debian's /usr/bin/python3)
# with boxen installed and its programs in .venv/bin/.

SHELL := /bin/bash
PYTHON := /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest

# What boxen needs on a host, then what its tests run beside it (the peers).
APT_RUNTIME := busybox-static libseccomp2 iproute2 util-linux
APT_TESTS := runc crun podman conmon containerd uidmap skopeo umoci buildah docker-registry \
	oci-image-tool debootstrap hyperfine python3-venv openssl
APT_PACKAGES := $(APT_RUNTIME) $(APT_TESTS)

.PHONY: install apt venv demo test test-unit test-privileged lint bench clean

install: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f '$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	$(PY) tools/fast_launcher.py $(VENV)
	$(PY) -m compileall -q src

demo: install
	tools/demo.sh

lint: venv
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test-unit: venv
	$(PYTEST) -q tests/unit

test-privileged: install
	$(PYTEST) -q tests/privileged tests/e2e tests/conformance

test: install lint
	$(PYTEST) -q tests

bench: install
	$(PY) bench/runtime.py
	$(PY) bench/images.py

clean:
	rm -rf $(VENV) build src/*.egg-info
