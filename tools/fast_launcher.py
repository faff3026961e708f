"""Write the start-up-critical launchers in a virtualenv's bin/.

pip's console-script launchers start the interpreter with ``site``, which reads the
virtualenv's .pth files and costs about 6 ms; an OCI runtime is started once per container
operation, so the launchers run the interpreter with ``-IS`` (no site, no environment
variables) and put boxen's own source directory on ``sys.path`` themselves (``boxen-image``
also the virtualenv's site-packages, for zstandard). They import boxen's modules through
``boxen.common.importer``, which goes straight to their cached bytecode, and do not import
``os`` (see ``boxen.common.posixos``). At the end they flush the standard streams and leave
with ``_exit``: tearing the interpreter down, module by module, costs several milliseconds that
an exiting process does not need (a program's threads must be joined by then).

``boxen-runtime exec`` and ``create`` run their launcher twice: ``boxen.runtime.sealed``
re-executes the interpreter from a read-only copy with the same command line
(``sys.orig_argv``, ``-IS`` included), so a launcher depends on nothing but its arguments.

Usage: python tools/fast_launcher.py VENV
"""

import os
import sys
import sysconfig

# program -> (module with main(), whether it needs the virtualenv's site-packages)
LAUNCHERS = {
    "boxen-runtime": ("boxen.runtime.cli", False),
    "boxen-image": ("boxen.image.cli", True),
}

TEMPLATE = """#!{python} -IS
# Written by tools/fast_launcher.py (make install): no site, no environment, for a fast start,
# and no interpreter tear-down at the end (streams are flushed, then the process exits).
import posix, sys
sys.path[:0] = {paths!r}
from boxen.common.importer import install
install({src!r})
from {module} import main
code = main()
sys.stdout.flush()
sys.stderr.flush()
posix._exit(code or 0)
"""


def main() -> None:
    venv = os.path.abspath(sys.argv[1])
    import boxen

    src = os.path.dirname(os.path.dirname(os.path.abspath(boxen.__file__)))
    python = os.path.join(venv, "bin", "python3")
    purelib = sysconfig.get_paths()["purelib"]
    for name, (module, packages) in LAUNCHERS.items():
        paths = [src, purelib] if packages else [src]
        path = os.path.join(venv, "bin", name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(TEMPLATE.format(python=python, paths=paths, src=src, module=module))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
