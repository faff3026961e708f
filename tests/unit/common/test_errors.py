import errno

from boxen.common import errors


def test_kernel_errors_are_classified_by_errno():
    e = errors.kernel_error(errno.ENOENT, "mount", "/proc")
    assert isinstance(e, errors.NotFound) and isinstance(e, errors.KernelError)
    assert str(e) == "mount /proc: No such file or directory"
    assert isinstance(errors.kernel_error(errno.EPERM, "setns"), errors.PermissionDenied)
    assert type(errors.kernel_error(errno.EIO, "read")) is errors.KernelError


def test_field_prefixes_the_message():
    e = errors.InvalidArgument("expected a string", field="process.cwd")
    assert str(e) == "process.cwd: expected a string"
