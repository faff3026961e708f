import pytest

from boxen.common.errors import InvalidArgument
from boxen.common.schema import to_json
from boxen.oci.runtime import LinuxIOPriority, parse_config

MINIMAL = '{"ociVersion": "1.2.0", "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}}}'


def test_minimal_config():
    spec = parse_config(MINIMAL)
    assert spec.process.args == ("sh",)
    assert spec.process.user.uid == 0
    assert spec.linux is None


def test_round_trip_keeps_json_names():
    text = '{"ociVersion": "1.2.0", "process": {"cwd": "/", "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 1}}}'
    spec = parse_config(text)
    assert spec.process.ioPriority == LinuxIOPriority(class_="IOPRIO_CLASS_RT", priority=1)
    assert to_json(spec)["process"]["ioPriority"] == {"class": "IOPRIO_CLASS_RT", "priority": 1}


def test_unknown_properties_are_ignored():
    assert parse_config('{"ociVersion": "1.2.0", "vm": {"x": 1}, "linux": {"new": true}}').linux is not None


@pytest.mark.parametrize(
    "text, field, message",
    [
        ('{"ociVersion": 1}', "ociVersion", "expected a string, got an integer"),
        ("{}", "ociVersion", "is required"),
        ('{"ociVersion": "1", "process": {"cwd": "/", "args": ["a", 3]}}', "process.args[1]", "expected a string"),
        (
            '{"ociVersion": "1", "linux": {"uidMappings": [{"containerID": 0, "hostID": -1, "size": 1}]}}',
            "linux.uidMappings[0].hostID",
            "out of range",
        ),
        ('{"ociVersion": "1", "linux": {"sysctl": {"a": 1}}}', "linux.sysctl['a']", "expected a string"),
        ('{"ociVersion": "1", "mounts": {}}', "mounts", "expected an array"),
        ('{"ociVersion": "1", "root": {"path": "r", "readonly": "yes"}}', "root.readonly", "expected a boolean"),
    ],
)
def test_type_errors_name_the_json_path(text, field, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        parse_config(text)
    assert info.value.field == field
