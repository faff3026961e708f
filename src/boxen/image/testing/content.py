"""The behaviour every content store must have, as one suite run against each implementation.

Each case is a function taking a fresh, empty store; :data:`CASES` lists them by name so a
test module can parametrize over ``CASES`` times implementations (as containerd's content
test suite and trio's ``check_two_way_stream`` do), and :func:`check_content_store` runs
them all in one go. The promises checked are those of :mod:`boxen.image.content`: a blob
appears only complete and only when its bytes match its digest, ingests resume, one writer
per ref, labels round-trip, and every failure leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Callable

from boxen.common import digest as digests
from boxen.common.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound
from boxen.image import content
from boxen.oci.image import Descriptor

DATA = b"hello, content store\n" * 100
DIGEST = digests.of_bytes(DATA)


def _fails(kind: type[Exception], fn: Callable[[], object]) -> Exception:
    try:
        fn()
    except kind as exc:
        return exc
    raise AssertionError(f"expected {kind.__name__}")


def ingest_commit_read(store) -> None:
    with store.writer("ref-1") as w:
        assert w.offset == 0
        w.write(DATA[:100])
        w.write(DATA[100:])
        w.commit(len(DATA), DIGEST, {"a": "1"})
    info = store.info(DIGEST)
    assert (info.digest, info.size, info.labels) == (DIGEST, len(DATA), {"a": "1"})
    with store.reader(DIGEST) as f:
        assert f.read() == DATA
    assert [i.digest for i in store.walk()] == [DIGEST]
    assert store.statuses() == []


def wrong_digest_is_never_stored(store) -> None:
    wrong = digests.of_bytes(b"something else")
    with store.writer("ref-bad") as w:
        w.write(DATA)
        exc = _fails(InvalidArgument, lambda: w.commit(len(DATA), wrong))
    assert wrong in str(exc)
    _fails(NotFound, lambda: store.info(wrong))
    _fails(NotFound, lambda: store.info(DIGEST))
    assert list(store.walk()) == [] and store.statuses() == []


def wrong_size_is_never_stored(store) -> None:
    with store.writer("ref-size") as w:
        w.write(DATA)
        _fails(InvalidArgument, lambda: w.commit(len(DATA) - 1, DIGEST))
    assert list(store.walk()) == []


def more_than_expected_is_refused_while_writing(store) -> None:
    expected = Descriptor("application/octet-stream", DIGEST, 10)
    with store.writer("ref-huge", expected) as w:
        _fails(InvalidArgument, lambda: w.write(DATA))
    assert list(store.walk()) == [] and store.statuses() == []


def short_commit_keeps_ingest_for_resume(store) -> None:
    expected = Descriptor("application/octet-stream", DIGEST, len(DATA))
    with store.writer("ref-resume", expected) as w:
        w.write(DATA[:500])
        _fails(FailedPrecondition, lambda: w.commit(len(DATA), DIGEST))
    [status] = store.statuses()
    assert (status.ref, status.offset, status.total, status.expected) == ("ref-resume", 500, len(DATA), DIGEST)
    with store.writer("ref-resume", expected) as w:
        assert w.offset == 500
        w.write(DATA[500:])
        w.commit(len(DATA), DIGEST)
    assert store.info(DIGEST).size == len(DATA) and store.statuses() == []


def other_expectation_restarts_ingest(store) -> None:
    with store.writer("ref-x", Descriptor("x", DIGEST, len(DATA))) as w:
        w.write(DATA[:10])
    other = digests.of_bytes(b"other")
    with store.writer("ref-x", Descriptor("x", other, 5)) as w:
        assert w.offset == 0
        w.write(b"other")
        w.commit(5, other)


def one_writer_per_ref(store) -> None:
    first = store.writer("ref-lock")
    try:
        _fails(Conflict, lambda: store.writer("ref-lock"))
    finally:
        first.close()
    store.writer("ref-lock").close()


def existing_blob_refuses_writer(store) -> None:
    content.put(store, DATA, "application/octet-stream")
    _fails(AlreadyExists, lambda: store.writer("again", Descriptor("x", DIGEST, len(DATA))))
    assert content.put(store, DATA, "application/octet-stream").digest == DIGEST


def abort_drops_ingest(store) -> None:
    with store.writer("ref-abort") as w:
        w.write(b"partial")
    store.abort("ref-abort")
    assert store.statuses() == []
    _fails(NotFound, lambda: store.abort("ref-abort"))


def labels_and_delete(store) -> None:
    content.put(store, DATA, "x")
    store.set_labels(DIGEST, {"k": "v"})
    assert store.info(DIGEST).labels == {"k": "v"}
    store.set_labels(DIGEST, {})
    assert store.info(DIGEST).labels == {}
    store.delete(DIGEST)
    _fails(NotFound, lambda: store.info(DIGEST))
    _fails(NotFound, lambda: store.reader(DIGEST))
    _fails(NotFound, lambda: store.delete(DIGEST))
    _fails(NotFound, lambda: store.set_labels(DIGEST, {"k": "v"}))


def sha512_is_accepted(store) -> None:
    d = digests.of_bytes(DATA, "sha512")
    with store.writer("ref-512", Descriptor("x", d, len(DATA))) as w:
        w.write(DATA)
        w.commit(len(DATA), d)
    with store.reader(d) as f:
        assert f.read() == DATA


def bad_digest_is_invalid_argument(store) -> None:
    _fails(InvalidArgument, lambda: store.info("sha256:nothex"))
    _fails(InvalidArgument, lambda: store.info("md5:" + "0" * 32))


def store_usable_after_failures(store) -> None:
    wrong_digest_is_never_stored(store)
    more_than_expected_is_refused_while_writing(store)
    ingest_commit_read(store)


CASES: dict[str, Callable[[object], None]] = {
    fn.__name__: fn
    for fn in (
        ingest_commit_read,
        wrong_digest_is_never_stored,
        wrong_size_is_never_stored,
        more_than_expected_is_refused_while_writing,
        short_commit_keeps_ingest_for_resume,
        other_expectation_restarts_ingest,
        one_writer_per_ref,
        existing_blob_refuses_writer,
        abort_drops_ingest,
        labels_and_delete,
        sha512_is_accepted,
        bad_digest_is_invalid_argument,
        store_usable_after_failures,
    )
}


def check_content_store(factory: Callable[[], object]) -> None:
    """Run every case, each against a fresh store from ``factory()``."""
    for case in CASES.values():
        case(factory())
