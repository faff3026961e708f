"""--chmod values: octal replaces the bits, chmod(1)'s symbolic clauses change each file's own."""

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.build.modes import apply, check


@pytest.mark.parametrize("text, mode, directory, expected", [
    ("0644", 0o777, False, 0o644),
    ("755", 0o600, True, 0o755),
    ("go-w", 0o666, False, 0o644),
    ("go-w", 0o755, True, 0o755),
    ("u+x", 0o644, False, 0o744),
    ("+x", 0o644, False, 0o755),
    ("a=r", 0o777, False, 0o444),
    ("u=rwx,g=rx,o=", 0o000, False, 0o750),
    ("a+X", 0o644, False, 0o644),  # X: no one may execute the file, so no one gets to
    ("a+X", 0o744, False, 0o755),
    ("a+X", 0o600, True, 0o711),
    ("g=u", 0o640, False, 0o660),
    ("o=g", 0o750, False, 0o755),
    ("u+s,+t", 0o755, False, 0o5755),
    ("g+s", 0o755, True, 0o2755),
    ("u-w+x", 0o644, False, 0o544),
])
def test_modes(text, mode, directory, expected):
    assert apply(text, mode, directory=directory) == expected


@pytest.mark.parametrize("text", ["", "u", "u+y", "w+r", "0888", "07777777", "u+x,", ",u+x", "ug", "=r,x"])
def test_malformed_modes_are_refused(text):
    with pytest.raises(InvalidArgument, match="--chmod="):
        check(text, field="Dockerfile:2")
