"""Device rules: runc's defaults and their order, and the v1 rule arithmetic (runc's emulator)."""

import pytest

from boxen.common.errors import InvalidArgument
from boxen.oci.runtime import LinuxDevice, LinuxDeviceCgroup
from boxen.runtime.cgroups.devices import (
    DEFAULT_RULES,
    ALL,
    MKNOD,
    READ,
    WILDCARD,
    WRITE,
    DeviceRule,
    DeviceState,
    describe,
    device_rules,
    summary,
    v1_writes,
)

#: devices.list of a runc 1.1.5 container with no device rules of its own, read on this host.
RUNC_DEFAULT_LIST = """\
b *:* m
c *:* m
c 1:3 rwm
c 1:5 rwm
c 1:7 rwm
c 1:8 rwm
c 1:9 rwm
c 5:0 rwm
c 5:2 rwm
c 10:200 rwm
c 136:* rwm
"""


def _strings(writes):
    return [(w.path.rsplit("/", 1)[1], w.value) for w in writes]


def test_defaults_only_make_the_same_list_as_runc():
    state = DeviceState.from_rules(device_rules(None))
    assert state == DeviceState.from_list(RUNC_DEFAULT_LIST)
    assert not state.default_allow


def test_fresh_cgroup_writes_deny_all_then_the_allowed_devices_in_listed_order():
    writes = v1_writes("/cg", DeviceState.from_rules(device_rules(None)), "a *:* rwm\n")
    assert _strings(writes) == [("devices.deny", "a *:* rwm")] + [
        ("devices.allow", rule.cgroup_string()) for _, rule in DEFAULT_RULES]
    assert sorted(line for _, line in _strings(writes)[1:]) == sorted(RUNC_DEFAULT_LIST.splitlines())


def test_config_rules_come_first_and_defaults_follow():
    rules = device_rules((LinuxDeviceCgroup(allow=False, access="rwm"),
                          LinuxDeviceCgroup(allow=True, type="c", major=10, minor=229, access="rw")))
    assert rules[0] == DeviceRule("a", WILDCARD, WILDCARD, ALL, False)
    assert rules[1] == DeviceRule("c", 10, 229, READ | WRITE, True)
    assert len(rules) == 2 + 11


def test_a_device_of_linux_devices_replaces_the_default_rule_for_its_path_but_gets_none():
    # runc and crun: the spec's /dev/null node replaces the default /dev/null rule, and no rule is
    # added for linux.devices nodes, so c 1:3 is no longer allowed and /dev/fuse is not either.
    rules = device_rules(None, (LinuxDevice(path="/dev/null", type="c", major=1, minor=3),
                                LinuxDevice(path="/dev/fuse", type="c", major=10, minor=229)))
    state = DeviceState.from_rules(rules)
    assert ("c", 1, 3) not in state.rules and ("c", 10, 229) not in state.rules
    assert ("c", 1, 5) in state.rules


@pytest.mark.parametrize("rule, field", [
    (LinuxDeviceCgroup(allow=True, type="p", access="rw"), "linux.resources.devices[0].type"),
    (LinuxDeviceCgroup(allow=True, type="c"), "linux.resources.devices[0].access"),
    (LinuxDeviceCgroup(allow=True, type="c", access="rx"), "linux.resources.devices[0].access"),
    (LinuxDeviceCgroup(allow=True, type="c", major=-2, access="r"), "linux.resources.devices[0].major"),
    (LinuxDeviceCgroup(allow=True, type="c", minor=1 << 32, access="r"), "linux.resources.devices[0].minor"),
])
def test_bad_rules_name_their_field(rule, field):
    with pytest.raises(InvalidArgument) as err:
        device_rules((rule,))
    assert err.value.field == field


def test_allow_all_config_stays_allow_all():
    # What docker --privileged passes: allow everything; the defaults then change nothing.
    state = DeviceState.from_rules(device_rules((LinuxDeviceCgroup(allow=True, access="rwm"),)))
    assert state.default_allow and state.rules == {}
    assert summary(state) == "allow all devices"


def test_blacklist_rules_from_an_allow_all_default():
    rules = [DeviceRule("a", WILDCARD, WILDCARD, ALL, True), DeviceRule("c", 1, 3, WRITE, False)]
    state = DeviceState.from_rules(rules)
    assert state.default_allow and state.rules == {("c", 1, 3): WRITE}
    assert _strings(v1_writes("/cg", state, "a *:* rwm")) == [("devices.allow", "a *:* rwm"),
                                                              ("devices.deny", "c 1:3 w")]


def test_punching_a_hole_in_a_denied_wildcard_is_refused():
    rules = [DeviceRule("a", WILDCARD, WILDCARD, ALL, True), DeviceRule("c", WILDCARD, WILDCARD, MKNOD, False),
             DeviceRule("c", 1, 3, ALL, True)]
    with pytest.raises(InvalidArgument, match="punch a hole"):
        DeviceState.from_rules(rules)


def test_update_from_a_whitelist_writes_only_the_difference():
    before = DeviceState.from_list(RUNC_DEFAULT_LIST)
    after = DeviceState.from_list(RUNC_DEFAULT_LIST.replace("c 10:200 rwm\n", "c 10:229 rw\n"))
    assert _strings(before.transition(after) and v1_writes("/cg", after, RUNC_DEFAULT_LIST)) == [
        ("devices.deny", "c 10:200 rwm"), ("devices.allow", "c 10:229 rw")]


def test_partial_permissions_are_added_and_removed_by_bits():
    before = DeviceState(False, {("c", 1, 3): READ})
    after = DeviceState(False, {("c", 1, 3): READ | WRITE | MKNOD})
    assert [r.cgroup_string() for r in before.transition(after)] == ["c 1:3 wm"]
    assert [(r.cgroup_string(), r.allow) for r in after.transition(before)] == [("c 1:3 wm", False)]


def test_an_unchanged_whitelist_needs_no_writes():
    state = DeviceState.from_list(RUNC_DEFAULT_LIST)
    assert v1_writes("/cg", state, RUNC_DEFAULT_LIST) == []


def test_a_missing_list_is_read_as_allow_all():
    writes = v1_writes("/cg", DeviceState(False), None)
    assert _strings(writes) == [("devices.deny", "a *:* rwm")]


def test_rules_are_explained():
    assert describe(DeviceRule("c", 1, 3, ALL, True)) == "character device 1:3 (/dev/null): read, write, mknod"
    assert describe(DeviceRule("b", WILDCARD, WILDCARD, MKNOD, True)) == "block devices: mknod"
    assert describe(DeviceRule("c", 136, WILDCARD, READ, True)) == "character device 136:* (/dev/pts/*): read"
