"""What a build shows while it runs: docker-like steps, JSON lines for scripts, or nothing.

A build is a sequence of steps; each is announced (``STEP 3/7: RUN make``), may print the
output of its command, and ends with its result: ``--> Using cache 1a2b3c4d5e6f`` when the layer
cache had it, or ``--> 9f8e7d6c5b4a`` (the new layer's short digest). The last lines name the
image. Three renderers:

* :class:`TextProgress`: those lines on a stream (stderr), command output passed through;
* :class:`JSONProgress`: one JSON object per line, in the shape of docker's build API stream
  (``{"stream": "STEP 1/2: FROM busybox\\n"}``, ``{"aux": {"ID": "sha256:..."}}``), so a
  program can follow the build;
* :class:`BuildProgress` itself shows nothing (``--quiet``), but keeps the last lines each
  command printed, so that a failing ``RUN`` can still say what it printed.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from boxen.common import jsonio

_TAIL = 4096  # bytes of command output kept for error messages


def short(digest: str) -> str:
    return digest.partition(":")[2][:12] or digest


def _private(stream: TextIO) -> TextIO:
    """``stream`` on a descriptor of its own when it writes to 0, 1 or 2.

    While a RUN command runs, the builder points descriptors 1 and 2 at the pipe the command
    writes to (:class:`boxen.image.build.run.CommandOutput`); what the progress writes must
    still reach the terminal, not the pipe it reads from.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return stream
    if fd not in (0, 1, 2):
        return stream
    stream.flush()
    return os.fdopen(os.dup(fd), "w", encoding=stream.encoding, errors="replace", buffering=1)


class BuildProgress:
    """The events of a build. This base class renders nothing (``--quiet``)."""

    shows_output = False

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = _private(out or sys.stderr)
        self.tail = bytearray()

    def step(self, number: int, total: int, text: str) -> None:
        """Step ``number`` of ``total`` starts; ``text`` is its instruction as written."""
        self.tail.clear()

    def cached(self, digest: str) -> None:
        """The step's layer came from the cache."""

    def done(self, digest: str) -> None:
        """The step made a new layer (``digest`` names it)."""

    def output(self, data: bytes) -> None:
        """Bytes the step's command printed (stdout and stderr together)."""
        self.tail += data
        del self.tail[:-_TAIL]

    def message(self, text: str) -> None:
        """A line of its own: pulling a base image, a warning, the image's name."""

    def image(self, image_id: str, names: tuple[str, ...]) -> None:
        """The build wrote the image ``image_id`` (its config digest) under ``names``."""


class TextProgress(BuildProgress):
    shows_output = True

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, number: int, total: int, text: str) -> None:
        super().step(number, total, text)
        self._line(f"STEP {number}/{total}: {text}")

    def cached(self, digest: str) -> None:
        self._line(f"--> Using cache {short(digest)}")

    def done(self, digest: str) -> None:
        self._line(f"--> {short(digest)}")

    def output(self, data: bytes) -> None:
        super().output(data)
        self.out.write(data.decode("utf-8", "replace"))
        self.out.flush()

    def message(self, text: str) -> None:
        self._line(text)

    def image(self, image_id: str, names: tuple[str, ...]) -> None:
        for name in names:
            self._line(f"Successfully tagged {name}")
        self._line(f"--> {short(image_id)}")


class JSONProgress(BuildProgress):
    shows_output = True

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out or sys.stdout)

    def _emit(self, event: dict) -> None:
        self.out.write(jsonio.dumps(event) + "\n")
        self.out.flush()

    def step(self, number: int, total: int, text: str) -> None:
        super().step(number, total, text)
        self._emit({"stream": f"STEP {number}/{total}: {text}\n"})

    def cached(self, digest: str) -> None:
        self._emit({"stream": f"--> Using cache {short(digest)}\n"})

    def done(self, digest: str) -> None:
        self._emit({"stream": f"--> {short(digest)}\n"})

    def output(self, data: bytes) -> None:
        super().output(data)
        self._emit({"stream": data.decode("utf-8", "replace")})

    def message(self, text: str) -> None:
        self._emit({"stream": text + "\n"})

    def image(self, image_id: str, names: tuple[str, ...]) -> None:
        for name in names:
            self._emit({"stream": f"Successfully tagged {name}\n"})
        self._emit({"aux": {"ID": image_id}})


def make(mode: str, out: TextIO | None = None) -> BuildProgress:
    """``text``, ``json`` or ``quiet``."""
    if mode == "json":
        return JSONProgress(out)
    if mode == "text":
        return TextProgress(out)
    return BuildProgress(out)
