"""The program a container runs: found as execvp would, opened, checked, then run from its descriptor.

``process.args[0]`` names the program. Without a ``/`` it is looked up in the directories of
the process's own ``PATH`` (from ``process.env``, not the runtime's), the way ``execvp`` does;
otherwise it is a path, relative to the working directory.

The runtime does not hand that name to ``execve``. Until it calls ``execveat``, the process
*is* the host's Python binary, and the name could lead back to it (``/proc/self/exe``), or be a
``#!`` script whose interpreter does: a container that ran the host's interpreter could write to
it through ``/proc/<pid>/exe`` and replace it for the whole host (runc's CVE-2019-5736). So the
program is opened first and compared (device and inode) with the runtime's interpreter; a
script's interpreter line is read and its interpreter opened and compared in turn (the argument
vector built as the kernel's ``binfmt_script`` builds it); and the descriptor checked is the
one executed (``execveat(fd, "", ..., AT_EMPTY_PATH)``), so nothing can be swapped in between.
"""

from __future__ import annotations

import stat

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, NotFound, PermissionDenied
from boxen.runtime.linux import constants as C

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_SCRIPT_DEPTH = 4


def find_executable(name: str, env: list[str]) -> str:
    """Resolve ``args[0]`` the way execvp does, with the process's own PATH."""
    if "/" in name:
        return name
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    for directory in path.split(":"):
        candidate = f"{directory or '.'}/{name}"
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(candidate, os.X_OK):
            return candidate
    raise NotFound(f'exec: "{name}": executable file not found in $PATH', field="process.args[0]")


def open_program(path: str, argv: list[str], interpreter, depth: int = 0) -> tuple[int, list[str]]:
    """Open the program to run; for a ``#!`` script, open its interpreter (recursively) instead.

    Returns the descriptor to ``execveat`` and the argument vector, built as the kernel's
    ``binfmt_script`` would: ``interpreter [optional-arg] script args...``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        fd = os.open(path, C.O_PATH | os.O_CLOEXEC)  # execute-only binaries cannot be read
    except FileNotFoundError:
        raise NotFound(f'exec: "{path}": no such file or directory', field="process.args[0]") from None
    except OSError as exc:
        raise InvalidArgument(f'exec: "{path}": {os.strerror(exc.errno or 0)}', field="process.args[0]") from None
    st = os.fstat(fd)
    if interpreter is not None and (st.st_dev, st.st_ino) == interpreter:
        os.close(fd)
        raise PermissionDenied(f'exec: "{path}" is the runtime\'s own interpreter; refusing to run it in a container',
                               field="process.args[0]")
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InvalidArgument(f'exec: "{path}": not a regular file', field="process.args[0]")
    try:
        head = os.pread(fd, 256, 0)
    except OSError:
        head = b""
    if not head.startswith(b"#!"):
        return fd, argv
    if depth >= _MAX_SCRIPT_DEPTH:
        os.close(fd)
        raise InvalidArgument(f'exec: "{path}": too many levels of #! interpreters', field="process.args[0]")
    line = head[2:].split(b"\n", 1)[0].strip()
    os.close(fd)
    if not line:
        raise InvalidArgument(f'exec: "{path}": empty #! line', field="process.args[0]")
    parts = line.split(None, 1)
    interp = os.fsdecode(parts[0])
    new_argv = [interp] + ([os.fsdecode(parts[1].strip())] if len(parts) > 1 else []) + [path] + argv[1:]
    return open_program(interp, new_argv, interpreter, depth + 1)
