import json
import pathlib

import pytest

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "runtime"


@pytest.fixture
def bundle(tmp_path):
    """A bundle directory with an empty rootfs and runc's default config (terminal off)."""
    (tmp_path / "rootfs").mkdir()
    config = json.loads((DATA / "runc-spec.json").read_text())
    config["process"]["terminal"] = False
    return tmp_path, config
