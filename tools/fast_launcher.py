"""Write the start-up-critical launchers in a virtualenv's bin/.

pip's console-script launchers start the interpreter with ``site``, which reads the
virtualenv's .pth files and costs about 6 ms; an OCI runtime is started once per container
operation, so boxen-runtime's launcher runs the interpreter with ``-I -S`` (no site, no
environment variables) and puts boxen's own source directory on ``sys.path`` itself. The
runtime needs nothing outside the standard library and boxen.

Usage: python tools/fast_launcher.py VENV
"""

import os
import sys

LAUNCHERS = {
    "boxen-runtime": "boxen.runtime.cli",
}

TEMPLATE = """#!{python} -IS
# Written by tools/fast_launcher.py (make install): no site, no environment, for a fast start,
# and no interpreter tear-down at the end (streams are flushed, then the process exits).
import os, sys
sys.path.insert(0, {src!r})
from {module} import main
code = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code or 0)
"""


def main() -> None:
    venv = os.path.abspath(sys.argv[1])
    import boxen

    src = os.path.dirname(os.path.dirname(os.path.abspath(boxen.__file__)))
    python = os.path.join(venv, "bin", "python3")
    for name, module in LAUNCHERS.items():
        path = os.path.join(venv, "bin", name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(TEMPLATE.format(python=python, src=src, module=module))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
