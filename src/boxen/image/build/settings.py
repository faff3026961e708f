"""The image config values that Dockerfile instructions set, parsed and checked.

An image's **config** (``config`` in the image config blob, :class:`~boxen.oci.image.ContainerConfig`)
is what a container of the image starts with unless told otherwise: ``Env``, ``Entrypoint``
and ``Cmd``, ``User``, ``WorkingDir``, ``ExposedPorts``, ``Volumes``, ``Labels``,
``StopSignal``, plus docker's ``Healthcheck``, ``OnBuild`` and ``Shell``. Most instructions
only change one of these fields and make no layer. This module turns their arguments into
values, with docker's rules:

* ``EXPOSE 80 53/udp 8000-8002`` becomes the keys ``80/tcp``, ``53/udp``, ``8000/tcp``,
  ``8001/tcp``, ``8002/tcp`` (TCP when no protocol is given; ranges expanded);
* ``HEALTHCHECK`` durations are Go durations (``30s``, ``1m30s``, ``500ms``) stored in
  nanoseconds; ``HEALTHCHECK NONE`` turns off a check inherited from the base image;
* ``STOPSIGNAL`` takes a signal name (``SIGTERM``, ``TERM``, ``SIGRTMIN+3``) or number;
* ``ENV`` replaces a variable where it stands in ``Env`` and appends a new one at the end.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument
from boxen.oci.image import HealthConfig

_PROTOCOLS = ("tcp", "udp", "sctp")

_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}

_SIGNALS = ["HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS", "UNUSED"]


def exposed_ports(words: list[str], *, field: str) -> list[str]:
    """The ``ExposedPorts`` keys for ``EXPOSE`` words."""
    ports: list[str] = []
    for word in words:
        spec, _, protocol = word.partition("/")
        protocol = (protocol or "tcp").lower()
        if protocol not in _PROTOCOLS:
            raise InvalidArgument(f"invalid protocol {protocol!r} in {word!r} (expected tcp, udp or sctp)",
                                  field=field)
        low, dash, high = spec.partition("-")
        if not digits(low) or (dash and not digits(high)):
            raise InvalidArgument(f"invalid port {word!r}: expected PORT[-PORT][/PROTOCOL]", field=field)
        first, last = int(low), int(high) if dash else int(low)
        if not 0 < first <= last <= 65535:
            raise InvalidArgument(f"invalid port range {spec!r}: ports are 1-65535, low to high", field=field)
        ports.extend(f"{port}/{protocol}" for port in range(first, last + 1))
    return ports


def duration(text: str, *, field: str) -> int:
    """A Go duration (``1m30s``) in nanoseconds."""
    if text in ("0", ""):
        return 0
    total = 0.0
    i = 0
    n = len(text)
    while i < n:
        start = i
        while i < n and (digits(text[i]) or text[i] == "."):
            i += 1
        number = text[start:i]
        unit_start = i
        while i < n and not (digits(text[i]) or text[i] == "."):
            i += 1
        unit = text[unit_start:i]
        if not number or number.count(".") > 1 or unit not in _DURATION_UNITS:
            raise InvalidArgument(f"invalid duration {text!r}: expected a number and a unit (ns, us, ms, s, m, h)"
                                  ", like 30s or 1m30s", field=field)
        total += float(number) * _DURATION_UNITS[unit]
    return int(total)


def healthcheck(flags: dict[str, str | None], args: str, json: tuple[str, ...] | None, *,
                field: str) -> HealthConfig:
    """The ``Healthcheck`` for ``HEALTHCHECK [flags] CMD command`` or ``HEALTHCHECK NONE``."""
    keyword, _, command = args.partition(" ")
    keyword = keyword.strip().upper()
    if keyword == "NONE":
        if command.strip() or flags:
            raise InvalidArgument("HEALTHCHECK NONE takes no other arguments", field=field)
        return HealthConfig(Test=("NONE",))
    if keyword != "CMD":
        raise InvalidArgument(f"HEALTHCHECK expects CMD or NONE, not {keyword!r}", field=field)
    command = command.strip()
    if not command:
        raise InvalidArgument("HEALTHCHECK CMD needs a command", field=field)
    from boxen.image.build.dockerfile import parse_json_array

    array = parse_json_array(command)
    test = ("CMD", *array) if array is not None else ("CMD-SHELL", command)
    values: dict[str, int] = {}
    for name, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        given = flags.get(name)
        if given is None:
            continue
        value = duration(given, field=f"{field} --{name}")
        if 0 < value < 1_000_000:
            raise InvalidArgument(f"--{name} cannot be less than 1ms", field=field)
        if value:
            values[key] = value
    retries = flags.get("retries")
    if retries is not None:
        if not digits(retries):
            raise InvalidArgument(f"--retries must be a whole number, not {retries!r}", field=field)
        if int(retries):
            values["Retries"] = int(retries)
    return HealthConfig(Test=test, **values)  # type: ignore[arg-type]


_BYTE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def byte_size(text: str, *, field: str) -> int:
    """A size in bytes: a number, optionally with a unit of 1024s (``64m``, ``1.5g``, ``512KiB``),
    as BuildKit reads a tmpfs ``size=`` (docker's ``RAMInBytes``)."""
    lowered = text.strip().lower()
    number = lowered.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = lowered[len(number):]
    unit = unit.removesuffix("ib") if unit.endswith("ib") else unit.removesuffix("b") if len(unit) == 2 else unit
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if value < 0 or unit not in _BYTE_UNITS or not number.replace(".", "", 1).isdigit():
        raise InvalidArgument(f"invalid size {text!r}: expected bytes or a number with a unit (k, m, g, t, p), "
                              "like 64m", field=field)
    return int(value * _BYTE_UNITS[unit])


def stop_signal(text: str, *, field: str) -> str:
    """``text`` if it names a signal (``SIGTERM``, ``TERM``, ``9``, ``SIGRTMIN+3``)."""
    if digits(text):
        if 0 < int(text) < 65:
            return text
    else:
        name = text.upper().removeprefix("SIG")
        base, sign, offset = name.replace("-", "+").partition("+")
        if name in _SIGNALS or (base in ("RTMIN", "RTMAX") and (not sign or digits(offset))):
            return text
    raise InvalidArgument(f"{text!r} is not a signal name or number", field=field)


def set_env(env: list[str], name: str, value: str) -> None:
    """Set ``name=value`` in the ``Env`` list, in place if the name is there already."""
    for i, entry in enumerate(env):
        if entry.partition("=")[0] == name:
            env[i] = f"{name}={value}"
            return
    env.append(f"{name}={value}")


def env_map(env: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``Env`` entries as a mapping (the last one wins)."""
    out: dict[str, str] = {}
    for entry in env:
        name, _, value = entry.partition("=")
        out[name] = value
    return out


#: The largest user or group ID (``2**32 - 1`` is ``(uid_t) -1``, "no change", to the kernel).
MAX_ID = 2**32 - 2


def digits(text: str) -> bool:
    """Whether ``text`` is decimal digits: ASCII ones (``str.isdigit`` takes ``²`` too, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def numeric_id(text: str) -> int | None:
    """``text`` as a user or group ID if it is one in decimal (ASCII digits, in range), else ``None``."""
    if not digits(text):
        return None
    return int(text) if int(text) <= MAX_ID else None
