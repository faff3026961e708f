"""The recording FakeKernel is honest (exactly Kernel's methods), and with it the order of the
namespace and capability calls is checked without root."""

import inspect

import pytest

from boxen.common import posixos
from boxen.runtime import capabilities, init, sync
from boxen.runtime.linux import constants as C
from boxen.runtime.linux.fake import FakeKernel
from boxen.runtime.linux.kernel import Kernel
from boxen.runtime.plan import plan_container
from support.specs import changed, spec_of


def _public_methods(cls) -> dict:
    return {name: inspect.signature(member) for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")}


def test_the_fake_has_exactly_the_kernels_methods_with_the_same_parameters():
    real = _public_methods(Kernel)
    fake = _public_methods(FakeKernel)
    fake.pop("names")  # the fake's own helper for tests
    assert sorted(fake) == sorted(real)
    for name, signature in real.items():
        assert list(fake[name].parameters.values()) == list(signature.parameters.values()), name


def test_a_misspelt_kernel_call_fails():
    with pytest.raises(AttributeError):
        FakeKernel().unshare_namespaces(0)


# --- namespaces -----------------------------------------------------------------------------------


class _Forked(Exception):
    """setup_stage reached its fork: everything before it has been done."""


class _Exited(BaseException):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class FakeChannel:
    def __init__(self):
        self.sent: list[str] = []
        self.error: BaseException | None = None

    def send(self, kind: str, **fields) -> None:
        self.sent.append(kind)

    def expect(self, kind: str) -> dict:
        assert kind == sync.USERNS_MAPPED
        return {"type": kind}

    def send_error(self, exc: BaseException) -> None:
        self.error = exc


def _setup_calls(monkeypatch, plan, ns_fds) -> tuple[FakeKernel, FakeChannel]:
    """Run init.setup_stage up to its fork, with a recording kernel and channel."""
    monkeypatch.setattr(init, "reset_signals", lambda: None)
    monkeypatch.setattr(posixos, "fork", lambda: (_ for _ in ()).throw(_Forked()))
    monkeypatch.setattr(posixos, "_exit", lambda code: (_ for _ in ()).throw(_Exited(code)))
    class _Cgroup:  # the setup stage joins the container's cgroup first
        def join(self, pid):
            assert pid == 0

    k, channel = FakeKernel(), FakeChannel()
    ctx = init.InitContext(kernel=k, plan=plan, channel=channel, ns_fds=ns_fds, fifo_fd=-1, error_fd=-1,
                           cgroup=_Cgroup(), cgroup_mounts=(), cgroup_version=1, console_fd=None, preserve_fds=0,
                           interpreter=(0, 0), hooks=None, seccomp_program=None, setgroups=True, idmap_fds={},
                           source_fds={}, cloned=False, join_cgroup=False)
    with pytest.raises(_Exited):
        init.setup_stage(ctx)
    assert isinstance(channel.error, _Forked), channel.error
    return k, channel


def test_user_namespace_first_then_joined_ones_then_the_new_ones(bundle, monkeypatch):
    path, config = bundle
    config = changed(config, "linux.namespaces", [
        {"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}, {"type": "ipc"}, {"type": "uts"},
        {"type": "mount"}, {"type": "user"}])
    config = changed(config, "linux.uidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}])
    config = changed(config, "linux.gidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}])
    plan = plan_container(spec_of(config), "c1", str(path))
    k, channel = _setup_calls(monkeypatch, plan, {"network": 7})
    assert k.calls == [
        ("unshare", C.CLONE_NEWUSER),
        ("prctl", C.PR_SET_DUMPABLE, 0, 0, 0, 0),
        ("setns", 7, C.CLONE_NEWNET, "/proc/1/ns/net"),
        ("unshare", C.CLONE_NEWPID | C.CLONE_NEWIPC | C.CLONE_NEWUTS | C.CLONE_NEWNS),
    ]
    assert channel.sent == [sync.USERNS_READY]  # the parent writes the id maps before the rest


def test_without_a_user_namespace_no_user_steps(bundle, monkeypatch):
    path, config = bundle
    plan = plan_container(spec_of(config), "c1", str(path))
    k, channel = _setup_calls(monkeypatch, plan, {})
    assert k.names() == ["prctl", "unshare"]
    assert k.calls[1] == ("unshare", C.CLONE_NEWPID | C.CLONE_NEWNET | C.CLONE_NEWIPC | C.CLONE_NEWUTS
                          | C.CLONE_NEWNS)
    assert channel.sent == []


# --- capabilities ------------------------------------------------------------------------------------


def _caps_process(bundle, caps: dict):
    path, config = bundle
    # this process's own ids: _set_identity really calls setresuid and setresgid
    config = changed(config, "process.user", {"uid": posixos.getuid(), "gid": posixos.getgid()})
    config = changed(config, "process.capabilities", caps)
    return plan_container(spec_of(config), "c1", str(path)).process


def test_capabilities_bounding_first_then_keepcaps_around_the_uid_switch_then_the_sets(bundle):
    names = ["CAP_CHOWN", "CAP_KILL"]
    process = _caps_process(bundle, {"bounding": names, "effective": ["CAP_KILL"], "permitted": names,
                                     "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]})
    k = FakeKernel()
    init._set_identity(k, process, setgroups=False)
    kept = capabilities.to_mask(names, "bounding")
    last = capabilities.last_cap()
    dropped = [n for n in range(last + 1) if not kept >> n & 1]
    kill = capabilities.to_mask(["CAP_KILL"], "x")
    assert k.calls == [
        *(("prctl", C.PR_CAPBSET_DROP, n, 0, 0, 0) for n in dropped),
        ("prctl", C.PR_SET_KEEPCAPS, 1, 0, 0, 0),
        ("prctl", C.PR_SET_KEEPCAPS, 0, 0, 0, 0),
        ("capget", 0),
        ("capset", kill, kept, kill),
        ("prctl", C.PR_CAP_AMBIENT, C.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
        ("prctl", C.PR_CAP_AMBIENT, C.PR_CAP_AMBIENT_RAISE, kill.bit_length() - 1, 0, 0),
    ]


def test_capability_sets_are_limited_to_what_is_permitted(bundle):
    names = ["CAP_CHOWN", "CAP_KILL"]
    process = _caps_process(bundle, {"bounding": names, "effective": names, "permitted": names,
                                     "inheritable": names})
    chown = capabilities.to_mask(["CAP_CHOWN"], "x")
    k = FakeKernel(capabilities=(chown, chown, 0))  # a runtime that was given CAP_CHOWN only
    init._set_identity(k, process, setgroups=False)
    assert ("capset", chown, chown, chown) in k.calls


def test_without_capabilities_only_keepcaps(bundle):
    path, config = bundle
    config = changed(config, "process.user", {"uid": posixos.getuid(), "gid": posixos.getgid()})
    config = changed(config, "process.capabilities", ...)
    process = plan_container(spec_of(config), "c1", str(path)).process
    k = FakeKernel()
    init._set_identity(k, process, setgroups=False)
    assert k.names() == ["prctl", "prctl"]
