"""Running the installed ``boxen-image`` program from end-to-end tests, in a private data root."""

from __future__ import annotations

import os
import subprocess
import sys

#: the program ``make install`` puts beside the test interpreter
BIN = os.path.join(os.path.dirname(sys.executable), "boxen-image")


class BoxenImage:
    """Runs ``boxen-image --root ROOT ...``; ``docker_config`` is a private docker config directory."""

    def __init__(self, root: str, docker_config: str | None = None) -> None:
        self.root = root
        self.env = {**os.environ, "BOXEN_ROOT": root}
        if docker_config is not None:
            self.env["DOCKER_CONFIG"] = docker_config

    def __call__(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([BIN, "--root", self.root, *args], check=False, capture_output=True, text=True,
                              env=self.env, input=input, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"boxen-image {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
