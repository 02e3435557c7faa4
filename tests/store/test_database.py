"""The metadata database: migrations, concurrent opening, contention and error translation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from shipyard.core.errors import StoreError
from shipyard.store import Database, head_revision, upgrade
from shipyard.store._schema import metadata


def test_migrations_build_exactly_the_declared_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database(db_url)
    try:
        upgrade(db)
        upgrade(db)  # a second open is a no-op
        diff = db.read(lambda conn: compare_metadata(MigrationContext.configure(conn), metadata))
        assert diff == []
        version = db.read(
            lambda conn: conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        )
        assert version == head_revision()
    finally:
        db.dispose()


def test_the_pinned_head_is_alembics_head() -> None:
    from shipyard.store._migrate import HEAD

    assert head_revision() == HEAD


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        mode = db.read(lambda conn: conn.exec_driver_sql("PRAGMA journal_mode").scalar())
        timeout = db.read(lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout").scalar())
        assert (mode, timeout) == ("wal", 60_000)
    finally:
        db.dispose()


OPENER = textwrap.dedent(
    """
    import sys
    from shipyard.store import Database, upgrade
    db = Database(sys.argv[1])
    upgrade(db)
    db.dispose()
    """
)


def test_processes_opening_a_new_database_at_once_do_not_race(db_url: str) -> None:
    children = [
        subprocess.Popen([sys.executable, "-c", OPENER, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], errors
    db = Database(db_url)
    try:
        rows = db.read(
            lambda conn: conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar()
        )
        assert rows == 1
    finally:
        db.dispose()


READ_THEN_WRITE = textwrap.dedent(
    """
    import sys
    import sqlalchemy as sa
    from shipyard.store import Database

    db = Database(sys.argv[1])
    def bump(conn):
        value = conn.exec_driver_sql("SELECT n FROM counter").scalar()
        conn.exec_driver_sql(f"UPDATE counter SET n = {value + 1}")
    for _ in range(50):
        db.write(bump)
    db.dispose()
    """
)


def test_read_then_write_transactions_serialise_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'counter.db'}"
    db = Database(url)
    db.write(lambda conn: conn.exec_driver_sql("CREATE TABLE counter (n INTEGER)"))
    db.write(lambda conn: conn.exec_driver_sql("INSERT INTO counter VALUES (0)"))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", READ_THEN_WRITE, url], stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], errors
    assert db.read(lambda conn: conn.exec_driver_sql("SELECT n FROM counter").scalar()) == 200
    db.dispose()


def test_database_errors_become_store_errors_with_a_hint() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(
        StoreError, match=r"Database postgresql\+psycopg://nobody@127.0.0.1:1/none failed"
    ):
        db.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
    db.dispose()


def test_passwords_never_appear_in_messages() -> None:
    db = Database("postgresql+psycopg://user:s3cret@127.0.0.1:1/none")
    with pytest.raises(StoreError) as caught:
        db.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
    assert "s3cret" not in str(caught.value)
    db.dispose()


def test_postgres_deadlocks_are_retried_not_raised(pg_url: str) -> None:
    import threading
    from collections import Counter

    db = Database(pg_url)
    db.write(lambda conn: conn.exec_driver_sql("CREATE TABLE pair (id INT PRIMARY KEY, n INT)"))
    db.write(lambda conn: conn.exec_driver_sql("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    both_hold_one_lock = threading.Barrier(2, timeout=20)
    attempts: Counter[str] = Counter()
    failures: list[BaseException] = []

    def worker(name: str, first: int, second: int) -> None:
        def work(conn: sa.Connection) -> None:
            attempts[name] += 1
            conn.exec_driver_sql(f"UPDATE pair SET n = n + 1 WHERE id = {first}")
            if attempts[name] == 1:
                both_hold_one_lock.wait()  # now each waits for the other: a deadlock
            conn.exec_driver_sql(f"UPDATE pair SET n = n + 1 WHERE id = {second}")

        try:
            db.write(work)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [
        threading.Thread(target=worker, args=("a", 1, 2)),
        threading.Thread(target=worker, args=("b", 2, 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert failures == []
        assert sum(attempts.values()) == 3  # exactly one side was chosen as victim and retried
        counts = db.read(lambda conn: conn.exec_driver_sql("SELECT n FROM pair ORDER BY id").all())
        assert [row[0] for row in counts] == [2, 2]
    finally:
        db.dispose()


def test_a_database_from_a_newer_shipyard_is_refused_clearly(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(db)
    db.write(lambda conn: conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(
        StoreError, match=r"revision '9999', newer than this Shipyard.*pip install -U"
    ):
        upgrade(db)
    db.dispose()
