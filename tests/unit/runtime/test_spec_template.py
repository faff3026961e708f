import json
import pathlib

from boxen.common import jsonio
from boxen.runtime.spec import default_spec

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "runtime"


def test_default_spec_is_runcs():
    # runc-spec.json and runc-spec-rootless.json are what `runc spec` (1.1) writes, as root.
    assert default_spec() == json.loads((DATA / "runc-spec.json").read_text())
    rootless = json.loads((DATA / "runc-spec-rootless.json").read_text())
    mine = default_spec(rootless=True)
    for mapping in ("uidMappings", "gidMappings"):
        mine["linux"][mapping][0]["hostID"] = 0
    assert mine == rootless


def test_written_like_runc():
    text = (DATA / "runc-spec.json").read_text()
    assert jsonio.dumps(default_spec(), indent="\t") == text
