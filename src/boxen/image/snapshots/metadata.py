"""Snapshot metadata in SQLite: names, parents, kinds, labels, and the directory each one owns.

One table holds every snapshot. A row's ``id`` names its directory on disk
(``snapshots/<id>``), so committing, which changes the snapshot's *name* from the caller's
temporary key to its final name (a chain ID), moves no files. ``parent`` holds the parent's
name; only committed snapshots can be parents, and committed names never change, so the
chain of ancestors is a walk up ``parent`` (:meth:`Transaction.chain`, one recursive query).

Every change happens in a transaction that takes SQLite's write lock first (``BEGIN
IMMEDIATE``), so two processes (two pulls, a pull and a prune) see each other's changes
whole or not at all. Snapshotters make and remove directories *inside* the transaction that
records them: a crash leaves at worst a directory no row names, which
:meth:`~boxen.image.snapshots.base.DirectorySnapshotter.cleanup` removes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

from boxen.common import jsonio
from boxen.common.errors import AlreadyExists, FailedPrecondition, NotFound
from boxen.common.record import Record
from boxen.image.root import disk_full
from boxen.image.snapshots import COMMITTED, WORK_LABEL, SnapshotInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL UNIQUE,
    parent  TEXT REFERENCES snapshots(name),
    kind    TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
    labels  TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    size    INTEGER,
    inodes  INTEGER
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
"""
_COLUMNS = "id, name, parent, kind, labels, created, updated, size, inodes"


class SnapshotRow(Record):
    """A row of the table: the public :class:`SnapshotInfo` plus the directory id and usage."""

    id: int
    name: str
    parent: str | None
    kind: str
    labels: dict[str, str]
    created: float
    updated: float
    size: int | None = None
    inodes: int | None = None

    def info(self) -> SnapshotInfo:
        return SnapshotInfo(self.name, self.parent, self.kind, dict(self.labels), self.created, self.updated)


def _row(values: tuple) -> SnapshotRow:
    id_, name, parent, kind, labels, created, updated, size, inodes = values
    return SnapshotRow(id_, name, parent, kind, jsonio.loads(labels), created, updated, size, inodes)


class Transaction:
    """Queries and changes inside one transaction (see :meth:`MetadataStore.transaction`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def get(self, name: str) -> SnapshotRow:
        values = self.db.execute(f"SELECT {_COLUMNS} FROM snapshots WHERE name = ?", (name,)).fetchone()
        if values is None:
            raise NotFound(f"no snapshot named {name!r}", field="key")
        return _row(values)

    def find(self, name: str) -> SnapshotRow | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    def all(self) -> list[SnapshotRow]:
        return [_row(v) for v in self.db.execute(f"SELECT {_COLUMNS} FROM snapshots ORDER BY id")]

    def ids(self) -> set[int]:
        return {v[0] for v in self.db.execute("SELECT id FROM snapshots")}

    def chain(self, name: str) -> list[SnapshotRow]:
        """``name`` and its ancestors, nearest first."""
        rows = self.db.execute(
            f"""WITH RECURSIVE chain(depth, n) AS (
                    SELECT 0, ? UNION ALL
                    SELECT depth + 1, s.parent FROM snapshots s JOIN chain c ON s.name = c.n
                    WHERE s.parent IS NOT NULL)
                SELECT {_COLUMNS} FROM chain JOIN snapshots ON snapshots.name = chain.n ORDER BY depth""",
            (name,),
        ).fetchall()
        return [_row(v) for v in rows]

    def children(self, name: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM snapshots WHERE parent = ?", (name,)).fetchone()[0]

    def insert(self, name: str, parent: str | None, kind: str, labels: dict[str, str] | None) -> SnapshotRow:
        if self.find(name) is not None:
            raise AlreadyExists(f"snapshot {name!r} already exists", field="key")
        if parent is not None:
            row = self.find(parent)
            if row is None:
                raise NotFound(f"parent snapshot {parent!r} does not exist", field="parent")
            if row.kind != COMMITTED:
                raise FailedPrecondition(f"parent {parent!r} is {row.kind}, not committed", field="parent")
        now = time.time()
        self.db.execute(
            "INSERT INTO snapshots (name, parent, kind, labels, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
            (name, parent, kind, jsonio.dumps(dict(labels or {})), now, now),
        )
        return self.get(name)

    def commit(self, key: str, name: str, labels: dict[str, str] | None) -> None:
        row = self.get(key)
        merged = {k: v for k, v in {**row.labels, **(labels or {})}.items() if k != WORK_LABEL}  # no one's work now
        self.db.execute(
            "UPDATE snapshots SET name = ?, kind = ?, labels = ?, updated = ? WHERE id = ?",
            (name, COMMITTED, jsonio.dumps(merged), time.time(), row.id),
        )

    def set_usage(self, name: str, size: int, inodes: int) -> None:
        """Record what a committed snapshot uses (its files no longer change)."""
        self.db.execute("UPDATE snapshots SET size = ?, inodes = ? WHERE name = ? AND kind = ?",
                        (size, inodes, name, COMMITTED))

    def set_labels(self, name: str, labels: dict[str, str]) -> SnapshotRow:
        row = self.get(name)
        self.db.execute("UPDATE snapshots SET labels = ?, updated = ? WHERE id = ?",
                        (jsonio.dumps(dict(labels)), time.time(), row.id))
        return self.get(name)

    def delete(self, name: str, id_: int | None = None) -> SnapshotRow:
        """Delete snapshot ``name`` (only if its row is still ``id_``, when given)."""
        row = self.get(name)
        if id_ is not None and row.id != id_:
            raise NotFound(f"snapshot {name!r} was removed meanwhile", field="key")
        if self.children(name):
            raise FailedPrecondition(f"snapshot {name!r} has children: remove them first", field="key")
        self.db.execute("DELETE FROM snapshots WHERE id = ?", (row.id,))
        return row


class MetadataStore:
    """The SQLite database at ``path``; one connection, used by one thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Transaction]:
        """A transaction: committed if the block returns, rolled back if it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Transaction(self._db)
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:  # (a failed COMMIT, on a full disk, may leave it open)
                    self._db.execute("ROLLBACK")
                full = disk_full(exc, self.path) if isinstance(exc, sqlite3.OperationalError) else None
                if full is not None:
                    raise full from exc
                raise

    def close(self) -> None:
        self._db.close()
