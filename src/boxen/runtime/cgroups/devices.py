"""Device access rules: which device nodes a container may read, write or create.

A device node (``/dev/null``) is only a name for a driver, identified by its type (``c``
character or ``b`` block) and its major:minor numbers. Whoever can ``mknod`` or open the node
reaches the driver, so the *devices controller* decides, per cgroup, which ``type major:minor``
may be opened for ``r``\\ ead, ``w``\\ rite, or created with ``m``\\ knod.

cgroup v1 keeps a default (allow all, or deny all) plus exceptions, changed by writing rules
such as ``c 1:3 rwm`` to ``devices.allow`` or ``devices.deny``, and lists what is allowed in
``devices.list`` (``a *:* rwm`` when everything is). A new cgroup starts with its parent's list.
cgroup v2 has no such files: an eBPF program does the same job (``devicefilter``).

The rules come from ``linux.resources.devices``, in order, and runc then appends its own
default rules (mknod of any device; use of ``/dev/null``, ``zero``, ``full``, ``random``,
``urandom``, ``tty``, ``ptmx`` 5:2, the ``pts`` terminals 136:* and ``tun`` 10:200), dropping a
default whose path ``linux.devices`` redefines. Neither runc nor crun adds rules for the nodes
of ``linux.devices``: a config that creates ``/dev/fuse`` must also allow it in
``linux.resources.devices``. boxen does the same. The rules are written in the order they are
listed, as the spec asks, so ``devices.list`` shows them in that order (runc sorts them).

:class:`DeviceState` replays rules the way the kernel's v1 controller would and computes the
smallest sequence of writes that turns one state into another (runc's "emulator"). It also
refuses a rule v1 cannot express: allowing part of a wildcard that is denied ("punching a hole").
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.runtime.cgroups.writes import CgroupWrite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxDevice, LinuxDeviceCgroup

READ, WRITE, MKNOD = 1, 2, 4
ALL = READ | WRITE | MKNOD
WILDCARD = -1


def access_bits(access: str) -> int:
    bits = 0
    for ch in access:
        bits |= {"r": READ, "w": WRITE, "m": MKNOD}[ch]
    return bits


def access_text(bits: int) -> str:
    return ("r" if bits & READ else "") + ("w" if bits & WRITE else "") + ("m" if bits & MKNOD else "")


class DeviceRule(Record):
    """Allow or deny ``access`` (bits of READ, WRITE, MKNOD) to devices ``type major:minor``.

    ``type`` is ``a`` (all devices: the rule resets the default), ``b`` or ``c``; a major or
    minor of :data:`WILDCARD` matches any number.
    """

    type: str
    major: int
    minor: int
    access: int
    allow: bool

    def cgroup_string(self) -> str:
        """The rule as ``devices.allow``/``devices.deny`` take it: ``c 1:3 rwm``."""
        major = "*" if self.major == WILDCARD else str(self.major)
        minor = "*" if self.minor == WILDCARD else str(self.minor)
        return f"{self.type} {major}:{minor} {access_text(self.access)}"


def _allow(type_: str, major: int, minor: int, access: str = "rwm") -> DeviceRule:
    return DeviceRule(type_, major, minor, access_bits(access), True)


#: runc's default rules: (path of the node the rule is for, or None; the rule).
DEFAULT_RULES: tuple[tuple[str | None, DeviceRule], ...] = (
    (None, _allow("c", WILDCARD, WILDCARD, "m")),
    (None, _allow("b", WILDCARD, WILDCARD, "m")),
    ("/dev/null", _allow("c", 1, 3)),
    ("/dev/random", _allow("c", 1, 8)),
    ("/dev/full", _allow("c", 1, 7)),
    ("/dev/tty", _allow("c", 5, 0)),
    ("/dev/zero", _allow("c", 1, 5)),
    ("/dev/urandom", _allow("c", 1, 9)),
    (None, _allow("c", 136, WILDCARD)),
    (None, _allow("c", 5, 2)),
    (None, _allow("c", 10, 200)),
)

#: Names of well-known devices, for explanations.
KNOWN = {(1, 3): "/dev/null", (1, 5): "/dev/zero", (1, 7): "/dev/full", (1, 8): "/dev/random",
         (1, 9): "/dev/urandom", (5, 0): "/dev/tty", (5, 1): "/dev/console", (5, 2): "/dev/ptmx",
         (10, 200): "/dev/net/tun", (10, 229): "/dev/fuse", (136, WILDCARD): "/dev/pts/*"}


def _number(value: int | None, field: str) -> int:
    if value is None:
        return WILDCARD
    if not WILDCARD <= value < 1 << 32:
        raise InvalidArgument(f"{value} is not a device number (0 to 2^32-1, or -1 for any)", field=field)
    return value


def device_rules(rules: tuple[LinuxDeviceCgroup, ...] | None,
                 devices: tuple[LinuxDevice, ...] = ()) -> list[DeviceRule]:
    """The config's rules (``linux.resources.devices``) followed by runc's defaults."""
    out = []
    for i, d in enumerate(rules or ()):
        field = f"linux.resources.devices[{i}]"
        type_ = d.type or "a"
        if type_ not in ("a", "b", "c"):
            raise InvalidArgument(f"device type {type_!r} is not a, b or c", field=field + ".type")
        if not d.access or d.access.strip("rwm"):
            raise InvalidArgument(f"access {d.access!r} must be one or more of r, w, m", field=field + ".access")
        out.append(DeviceRule(type_, _number(d.major, field + ".major"), _number(d.minor, field + ".minor"),
                              access_bits(d.access), d.allow))
    redefined = {d.path for d in devices}
    out.extend(rule for path, rule in DEFAULT_RULES if path is None or path not in redefined)
    return out


def describe(rule: DeviceRule) -> str:
    """``c 1:3 rwm`` in words: which device, which access."""
    name = KNOWN.get((rule.major, rule.minor))
    kind = {"a": "every device", "b": "block devices", "c": "character devices"}[rule.type]
    if rule.type != "a" and rule.major != WILDCARD:
        minor = "*" if rule.minor == WILDCARD else rule.minor
        kind = f"{'block' if rule.type == 'b' else 'character'} device {rule.major}:{minor}"
    words = [w for bit, w in ((READ, "read"), (WRITE, "write"), (MKNOD, "mknod")) if rule.access & bit]
    return f"{kind}{f' ({name})' if name else ''}: {', '.join(words)}"


class DeviceState:
    """What a devices cgroup allows: a default and exceptions {(type, major, minor): access bits}.

    With ``default_allow`` the exceptions are denials ("blacklist"), otherwise grants
    ("whitelist"). A rule for type ``a`` resets the state to allow-all or deny-all.
    """

    __slots__ = ("default_allow", "rules")

    def __init__(self, default_allow: bool = False, rules: dict | None = None) -> None:
        self.default_allow = default_allow
        self.rules: dict[tuple[str, int, int], int] = dict(rules or {})

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, DeviceState) and self.default_allow == other.default_allow
                and self.rules == other.rules)

    @classmethod
    def from_list(cls, text: str) -> DeviceState:
        """The state shown by a v1 ``devices.list`` (only grants are listed)."""
        state = cls(False)
        for line in text.splitlines():
            fields = line.replace(":", " ").split()
            if len(fields) != 4:
                continue
            type_, major, minor, access = fields
            if type_ == "a":
                state.default_allow, state.rules = True, {}
                continue
            state.apply(DeviceRule(type_, WILDCARD if major == "*" else int(major),
                                   WILDCARD if minor == "*" else int(minor), access_bits(access), True))
        return state

    @classmethod
    def from_rules(cls, rules: list[DeviceRule]) -> DeviceState:
        """The state a deny-all cgroup reaches after ``rules`` (runc starts from deny-all)."""
        state = cls(False)
        for rule in rules:
            state.apply(rule)
        return state

    def apply(self, rule: DeviceRule) -> None:
        if rule.type == "a":
            self.default_allow, self.rules = rule.allow, {}
            return
        key = (rule.type, rule.major, rule.minor)
        if rule.allow == self.default_allow:
            self._remove(key, rule)
        else:
            self.rules[key] = self.rules.get(key, 0) | rule.access

    def _remove(self, key: tuple[str, int, int], rule: DeviceRule) -> None:
        type_, major, minor = key
        for wider in ((type_, WILDCARD, minor), (type_, major, WILDCARD), (type_, WILDCARD, WILDCARD)):
            if wider != key and self.rules.get(wider, 0) & rule.access:
                held = DeviceRule(type_, wider[1], wider[2], self.rules[wider], not rule.allow)
                raise InvalidArgument(f"rule {rule.cgroup_string()!r} cannot be expressed: the wildcard rule "
                                      f"{held.cgroup_string()!r} covers it (cgroup v1 cannot punch a hole "
                                      "in a wildcard)", field="linux.resources.devices")
        left = self.rules.get(key, 0) & ~rule.access
        if left:
            self.rules[key] = left
        else:
            self.rules.pop(key, None)

    def _ordered(self) -> list[tuple[tuple[str, int, int], int]]:
        """Exceptions in the order they were first made: the spec's rules "in the listed order",
        so ``devices.list`` shows them in that order too."""
        return list(self.rules.items())

    def transition(self, target: DeviceState) -> list[DeviceRule]:
        """The rules to write, in order, to turn this state into ``target``.

        ``devices.list`` cannot show the denials of an allow-all cgroup, so from one (or when the
        default changes) the sequence starts with a reset: ``a *:* rwm`` to the target default.
        """
        out = []
        old = self.rules
        if self.default_allow or self.default_allow != target.default_allow:
            out.append(DeviceRule("a", WILDCARD, WILDCARD, ALL, target.default_allow))
            old = {}
        for key, bits in sorted(old.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
            dropped = bits & ~target.rules.get(key, 0)
            if dropped:
                out.append(DeviceRule(key[0], key[1], key[2], dropped, target.default_allow))
        for key, bits in target._ordered():
            gained = bits & ~old.get(key, 0)
            if gained:
                out.append(DeviceRule(key[0], key[1], key[2], gained, not target.default_allow))
        return out

    def exceptions(self) -> list[DeviceRule]:
        """The exceptions to the default, ordered by major, minor, type."""
        return [DeviceRule(k[0], k[1], k[2], bits, not self.default_allow) for k, bits in self._ordered()]


def summary(state: DeviceState) -> str:
    """One line for a plan: the default and the exceptions."""
    rules = ", ".join(rule.cgroup_string() for rule in state.exceptions())
    if state.default_allow:
        return f"allow all devices but: {rules}" if rules else "allow all devices"
    return f"deny all devices but: {rules}" if rules else "deny all devices"


def v1_writes(directory: str, target: DeviceState, current_list: str | None) -> list[CgroupWrite]:
    """The devices.allow/devices.deny writes that move a v1 cgroup from ``current_list`` to ``target``."""
    current = DeviceState.from_list(current_list if current_list is not None else "a *:* rwm")
    out = []
    for rule in current.transition(target):
        name = "devices.allow" if rule.allow else "devices.deny"
        if rule.type == "a":
            what = ("allow every device (the default; the denials follow)" if rule.allow
                    else "deny every device (the default; the allowed ones follow)")
        else:
            what = f"{'allow' if rule.allow else 'deny'} {describe(rule)}"
        out.append(CgroupWrite(os.path.join(directory, name), rule.cgroup_string(), what))
    return out
