"""What the container's process is allowed to become: the checks before execveat."""

import os
import stat

import pytest

from boxen.common.errors import InvalidArgument, NotFound, PermissionDenied
from boxen.runtime.program import find_executable, open_program


def _script(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_find_executable_uses_the_process_path(tmp_path):
    exe = _script(tmp_path / "tool", "#!/bin/sh\n")
    assert find_executable("tool", [f"PATH=/nonexistent:{tmp_path}"]) == exe
    assert find_executable("./x", []) == "./x"
    with pytest.raises(NotFound, match='exec: "tool": executable file not found in \\$PATH'):
        find_executable("tool", ["PATH=/nonexistent"])


def test_binary_is_opened_as_is(tmp_path):
    fd, argv = open_program("/bin/sh", ["sh", "-c", "true"], None)
    os.close(fd)
    assert argv == ["sh", "-c", "true"]


def test_scripts_run_through_their_interpreter_like_the_kernel(tmp_path):
    inner = _script(tmp_path / "inner", "#!/bin/sh -e\necho hi\n")
    outer = _script(tmp_path / "outer", f"#!{inner} opt\n")
    fd, argv = open_program(outer, [outer, "a"], None)
    st = os.fstat(fd)
    os.close(fd)
    assert (st.st_dev, st.st_ino) == (os.stat("/bin/sh").st_dev, os.stat("/bin/sh").st_ino)
    assert argv == ["/bin/sh", "-e", inner, "opt", outer, "a"]


def test_the_runtimes_interpreter_is_refused_however_named(tmp_path):
    me = os.stat("/proc/self/exe")
    forbidden = (me.st_dev, me.st_ino)
    with pytest.raises(PermissionDenied, match="runtime's own interpreter"):
        open_program("/proc/self/exe", ["x"], forbidden)
    script = _script(tmp_path / "evil", "#!/proc/self/exe\n")
    with pytest.raises(PermissionDenied):
        open_program(script, [script], forbidden)


def test_not_a_regular_file_and_loops(tmp_path):
    with pytest.raises(InvalidArgument, match="not a regular file"):
        open_program(str(tmp_path), ["x"], None)
    loop = tmp_path / "loop"
    _script(loop, f"#!{loop}\n")
    with pytest.raises(InvalidArgument, match="too many levels"):
        open_program(str(loop), [str(loop)], None)
    assert stat.S_ISREG(os.stat(loop).st_mode)
