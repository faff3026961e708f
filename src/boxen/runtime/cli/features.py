"""features: what this runtime supports, as the runtime spec's features document."""

import sys

from boxen.common import jsonio
from boxen.common.flags import Flag
from boxen.runtime.cli import SPEC_VERSION, VERSION, check_args

USAGE = "features"
FLAGS = (Flag("help,h", help="show help"),)


def features() -> dict:
    from boxen.runtime import capabilities, namespaces, seccomp
    from boxen.runtime.rootfs import _FLAG_WORDS, PROPAGATION

    options = sorted(set(_FLAG_WORDS) | set(PROPAGATION) | {"tmpcopyup"})
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": options,
        "linux": {
            "namespaces": sorted(namespaces.FLAGS),
            "capabilities": list(capabilities.NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": True},
            "seccomp": {
                "enabled": True,
                "actions": sorted(seccomp.ACTIONS),
                "operators": sorted(seccomp.OPERATORS),
                "archs": sorted(seccomp.ARCHITECTURES),
                "knownFlags": sorted(seccomp.FLAGS),
                "supportedFlags": sorted(seccomp.FLAGS),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"io.github.boxen.runtime.version": VERSION},
    }


def run(g, opts, args) -> int:
    check_args("features", args, exactly=0)
    sys.stdout.write(jsonio.dumps(features(), indent=4) + "\n")
    return 0
