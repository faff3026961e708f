"""An overlay of 300 lower directories in config.json's mounts: its options outgrow the one page
that mount(2) copies, so the runtime mounts it with fsconfig's ``lowerdir+`` (Linux 6.8) instead."""

import os

import pytest

from support.bundle import base_config, make_bundle

LOWERS = 300


def test_an_overlay_mount_of_300_lower_directories(boxen, cid, tmp_path):
    release = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    if release < (6, 8):
        pytest.skip("overlayfs's lowerdir+ parameter needs Linux 6.8")
    layers = tmp_path / "layers-of-a-deep-image"
    lowers = []
    for n in range(LOWERS):
        lower = layers / f"lower-directory-{n:03}"
        lower.mkdir(parents=True)
        (lower / f"f{n}").write_text(f"{n}\n")
        lowers.append(str(lower))
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    options = [f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}"]
    assert len(",".join(options)) > 4096
    config = base_config(["sh", "-c", "cat /deep/f0 /deep/f299; ls /deep | wc -l; echo new > /deep/new"])
    config["mounts"].append({"destination": "/deep", "type": "overlay", "source": "overlay", "options": options})
    bundle = make_bundle(tmp_path, config)
    result = boxen.run(cid, bundle).check()
    assert result.stdout.split() == ["0", "299", str(LOWERS)]
    assert (upper / "new").read_text() == "new\n"  # written through the overlay into its upper directory
