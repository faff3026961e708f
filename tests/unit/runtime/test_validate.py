import pytest

from boxen.common.errors import InvalidArgument, Unimplemented
from boxen.runtime.validate import validate

from support.specs import changed, spec_of


def test_runc_default_is_valid(bundle):
    path, config = bundle
    validate(spec_of(config), str(path))


@pytest.mark.parametrize("where, value, field, message", [
    ("ociVersion", "2.0.0", "ociVersion", "expected 1.x"),
    ("root.path", "missing", "root.path", "is not a directory"),
    ("process.cwd", "relative", "process.cwd", "not an absolute path"),
    ("process.args", [], "process.args", "at least the program"),
    ("process.env", ["NOEQUALS"], "process.env[0]", "KEY=value"),
    ("process.rlimits", [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}], "process.rlimits[0].type", "unknown rlimit"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}], "process.rlimits[0]", "above hard"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}] * 2, "process.rlimits[1].type", "twice"),
    ("process.oomScoreAdj", 1001, "process.oomScoreAdj", "outside"),
    ("linux.namespaces", [{"type": "mount"}, {"type": "mount"}], "linux.namespaces[1].type", "listed twice"),
    ("linux.namespaces", [{"type": "mount"}, {"type": "bogus"}], "linux.namespaces[1].type", "unknown namespace"),
    ("linux.namespaces", [{"type": "mount"}, {"type": "net", "path": "x"}], "linux.namespaces[1].type", "unknown"),
    ("linux.namespaces", [{"type": "mount"}, {"type": "network", "path": "rel"}], "linux.namespaces[1].path",
     "absolute"),
    ("linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}], "linux.uidMappings", "user namespace"),
    ("linux.sysctl", {"kernel.panic": "1"}, "linux.sysctl['kernel.panic']", "not namespaced"),
    ("linux.maskedPaths", ["proc/kcore"], "linux.maskedPaths[0]", "absolute"),
    ("hooks", {"prestart": [{"path": "hook"}]}, "hooks.prestart[0].path", "absolute"),
    ("hooks", {"poststop": [{"path": "/h", "timeout": 0}]}, "hooks.poststop[0].timeout", "positive"),
    ("linux.personality", {"domain": "BSD"}, "linux.personality.domain", "unknown domain"),
])
def test_each_rule_names_its_field(bundle, where, value, field, message):
    path, config = bundle
    with pytest.raises(InvalidArgument, match=message) as info:
        validate(spec_of(changed(config, where, value)), str(path))
    assert info.value.field == field


def test_hostname_needs_uts(bundle):
    path, config = bundle
    config = changed(config, "linux.namespaces", [{"type": "mount"}])
    with pytest.raises(InvalidArgument, match="uts namespace") as info:
        validate(spec_of(config), str(path))
    assert info.value.field == "hostname"


def test_net_sysctl_needs_network_namespace(bundle):
    path, config = bundle
    config = changed(config, "linux.sysctl", {"net.ipv4.ip_forward": "1"})
    validate(spec_of(config), str(path))
    config = changed(config, "linux.namespaces", [{"type": "mount"}, {"type": "uts"}])
    with pytest.raises(InvalidArgument, match="network namespace"):
        validate(spec_of(config), str(path))


def test_missing_process_only_matters_for_create(bundle):
    path, config = bundle
    config = changed(config, "process", ...)
    with pytest.raises(InvalidArgument, match="required to create"):
        validate(spec_of(config), str(path))
    validate(spec_of(config), str(path), needs_process=False)


def test_a_process_given_needs_its_program_even_where_none_is_needed(bundle):
    path, config = bundle
    with pytest.raises(InvalidArgument, match="at least the program") as info:
        validate(spec_of(changed(config, "process.args", [])), str(path), needs_process=False)
    assert info.value.field == "process.args"


def test_host_features_are_unimplemented_not_invalid(bundle, monkeypatch):
    path, config = bundle
    monkeypatch.setattr("boxen.common.paths.exists", lambda p: False if "selinux" in p or "apparmor" in p else True)
    with pytest.raises(Unimplemented, match="SELinux"):
        validate(spec_of(changed(config, "process.selinuxLabel", "system_u:system_r:x")), str(path))
