"""The registry database: engine, sessions, and schema upgrades through Alembic."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import InsufficientStorage

MIGRATIONS = Path(__file__).with_name("migrations")
# Key of the PostgreSQL advisory lock held while migrating (any constant shared by every process).
_MIGRATION_LOCK = 0x6D616173


def _driver_url(url: str) -> str:
    """`postgresql://…` (the form psql and most hosts print) means psycopg 3, the driver we ship in the
    `postgres` extra, unless psycopg2 (SQLAlchemy's default for that form) is what is installed."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # WAL lets readers proceed while one writer writes; foreign keys are off by default in SQLite.
        # The driver's own transaction handling is switched off so that "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Writers take the lock when they begin, not when they first write: a deferred transaction
        # that upgrades from read to write can fail at once with "database is locked" under contention.
        if connection.get_execution_options().get("sqlite_immediate"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


class Database:
    """One engine per Platform; a session per unit of work."""

    def __init__(self, url: str):
        self.url = url = _driver_url(url)
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = _make_engine(url)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False)

    def upgrade(self) -> None:
        """Create or upgrade the schema to the newest migration."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url)
        # Several servers may open a fresh database at once: one migrates while the others wait,
        # then find the schema current. SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped
        # advisory lock (its DDL is transactional, so the waiters see the finished schema).
        with self.engine.execution_options(sqlite_immediate=True).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            cfg.attributes["connection"] = connection
            # "heads": each area (registry, serving, training) may add its own branch of migrations.
            command.upgrade(cfg, "heads")

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with self._reader() as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session that commits at the end, or rolls back on any error."""
        try:
            with self._writer() as session:
                with session.begin():
                    yield session
        except OperationalError as exc:
            # SQLite: "database or disk is full"; PostgreSQL: "could not extend file …: No space left".
            if any(words in str(exc.orig) for words in ("disk is full", "No space left")):
                raise InsufficientStorage(
                    "no space left on the disk that holds the database: nothing was "
                    "stored; free some space and try again"
                ) from None
            raise

    def close(self) -> None:
        self.engine.dispose()
