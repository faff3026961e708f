"""Fixtures for the image e2e tests: the boxen-image program in a private root, test images,
and the loopback registries of ``support.registry``."""

import os
import shutil
import subprocess
import sys

import pytest

from support import images
from support.registry import registry, tls_registry  # noqa: F401 (fixtures)

BIN = os.path.join(os.path.dirname(sys.executable), "boxen-image")


class BoxenImage:
    """Runs ``boxen-image --root ROOT ...`` with a private docker config directory."""

    def __init__(self, root: str, docker_config: str) -> None:
        self.root = root
        self.env = {**os.environ, "DOCKER_CONFIG": docker_config, "BOXEN_ROOT": root}

    def __call__(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([BIN, "--root", self.root, *args], capture_output=True, text=True, env=self.env,
                              input=input, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"boxen-image {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc


@pytest.fixture
def boxen_image(tmp_path):
    if not os.path.exists(BIN):
        pytest.skip(f"{BIN} is missing (make venv)")
    return BoxenImage(str(tmp_path / "root"), str(tmp_path / "docker"))


def _image(make):
    try:
        return make()
    except images.ImageUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def busybox_layout():
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    return _image(images.busybox)


@pytest.fixture(scope="session")
def debian_layout():
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    return _image(images.debian)
