"""A config.json that cannot work is refused with an error naming it, and leaves nothing behind.

The ``boxen`` fixture fails the test if a mount, cgroup or process is left; each test also
checks that no state directory (no id) remains.
"""

import json

import pytest

from support.bundle import base_config, make_bundle


def _deep_config_text(levels: int) -> str:
    text = json.dumps(base_config(["true"]))
    return text[:-1] + ', "x-deep": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("command", ["run", "create"])
def test_deeply_nested_json_is_refused_naming_the_file(boxen, cid, tmp_path, command):
    bundle = make_bundle(tmp_path, base_config(["true"]))
    (bundle / "config.json").write_text(_deep_config_text(100_000))
    result = getattr(boxen, command)(cid, bundle)
    assert result.returncode != 0
    assert "nested too deeply" in result.stderr
    assert "config.json" in result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert boxen.ids() == []
    assert not (boxen.root / cid).exists()


@pytest.mark.parametrize("command", ["run", "create"])
def test_empty_process_args_are_refused_naming_the_field(boxen, cid, tmp_path, command):
    config = base_config(["true"])
    config["process"]["args"] = []
    bundle = make_bundle(tmp_path, config)
    result = getattr(boxen, command)(cid, bundle)
    assert result.returncode != 0
    assert "process.args" in result.stderr
    assert "IndexError" not in result.stderr
    assert boxen.ids() == []
    assert not (boxen.root / cid).exists()
