import pytest

from boxen.common import digest
from boxen.common.errors import InvalidArgument

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_of_bytes_and_digester_agree():
    d = digest.Digester()
    d.update(b"")
    assert d.digest == digest.of_bytes(b"") == EMPTY
    assert digest.split(EMPTY) == ("sha256", EMPTY[7:])


@pytest.mark.parametrize(
    "bad", ["sha256", "md5:abc", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 64]
)
def test_validate_rejects(bad):
    with pytest.raises(InvalidArgument):
        digest.validate(bad)
