"""Fixtures for the image e2e tests: the boxen-image program in a private root, test images,
and the loopback registries of ``support.registry``."""

import os
import shutil

import pytest

from support import images
from support.boxen_image import BIN, BoxenImage
from support.registry import registry, tls_registry  # noqa: F401 (fixtures)


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
