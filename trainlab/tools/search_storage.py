"""Where a search's study lives: an Optuna RDB storage (SQLite file or PostgreSQL/MySQL URL).

Heartbeats: every running trial writes a heartbeat every ``heartbeat`` seconds; a trial whose
last heartbeat is older than ``grace`` seconds belongs to a dead worker (SIGKILL, power loss) and
is marked FAIL by the next worker that looks (:func:`optuna.storages.fail_stale_trials`).
SQLite: several processes write to one file, so each connection waits up to
:data:`SQLITE_TIMEOUT` seconds for the lock instead of failing with "database is locked", and the
file uses write-ahead logging so readers never block the writer.
"""
from __future__ import annotations

import importlib.util
import random
import sqlite3
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import sqlalchemy
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from trainlab.errors import TrainlabError
from trainlab.safety.redaction import redact

SQLITE_TIMEOUT = 60  # seconds a connection waits for SQLite's write lock
POSTGRES_DRIVER_HINT = "pip install 'psycopg[binary]'"


def default_url(out: Path) -> str:
    return f"sqlite:///{out.resolve() / 'study.db'}"


def shown(url: str) -> str:
    """The URL with any password hidden, for messages and reports (:func:`trainlab.safety.redaction.redact`)."""
    return redact(url)


def _with_driver(url: str) -> str:
    """``postgresql://`` means psycopg2 to SQLAlchemy; use psycopg 3 when only it is installed."""
    parsed = make_url(url)
    if parsed.drivername not in ("postgresql", "postgres"):
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise TrainlabError(f"--storage {shown(url)}: PostgreSQL needs a driver; install one with {POSTGRES_DRIVER_HINT}")


def _prepare_sqlite(url: str) -> None:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise TrainlabError(f"--storage {shown(url)}: an in-memory SQLite database cannot be shared by workers; "
                            "use a file, e.g. sqlite:///search/study.db")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database, timeout=SQLITE_TIMEOUT) as connection:  # WAL is a property of the file
        connection.execute("PRAGMA journal_mode=WAL")


def open_storage(url: str, heartbeat: int = 10, grace: int | None = None) -> RDBStorage:
    """An :class:`optuna.storages.RDBStorage` with heartbeats; a bad URL is a one-line error."""
    given = url
    try:
        url = _with_driver(url)
        sqlite = make_url(url).get_backend_name() == "sqlite"
    except sqlalchemy.exc.ArgumentError:
        raise TrainlabError(f"--storage {shown(given)!r}: not a database URL; accepted: sqlite:///PATH, "
                            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (any SQLAlchemy URL)") from None
    if sqlite:
        _prepare_sqlite(url)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT}} if sqlite else {"pool_pre_ping": True}
    attempts = 5  # workers starting together on a fresh database may race to create its tables
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeat_interval is "experimental"
                return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                  grace_period=grace)
        except ImportError:
            raise TrainlabError(f"--storage {shown(given)}: the database driver is not installed "
                                f"(for PostgreSQL: {POSTGRES_DRIVER_HINT})") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as e:
            if attempt == attempts - 1:
                reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
                raise TrainlabError(f"--storage {shown(given)}: cannot open the database: {reason}") from None
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark FAIL the running trials whose worker stopped sending heartbeats (Optuna's own check), and
    those that never sent one: a worker killed between creating a trial and its first heartbeat
    leaves a RUNNING trial that Optuna never calls stale, and every worker would wait for it forever."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = getattr(study._storage, "_backend", study._storage)  # the RDBStorage of open_storage (Optuna caches it)
    if not isinstance(storage, RDBStorage) or not storage.heartbeat_interval:
        return
    grace = storage.grace_period or 2 * storage.heartbeat_interval
    started_before = datetime.now() - timedelta(seconds=grace)  # Optuna stores local, naive times
    query = sqlalchemy.text(  # Optuna's schema: trials, trial_heartbeats
        "SELECT trial_id FROM trials WHERE study_id = :study AND state = 'RUNNING' AND datetime_start < :before "
        "AND trial_id NOT IN (SELECT trial_id FROM trial_heartbeats)")
    with storage.engine.connect() as connection:
        silent = [row[0] for row in connection.execute(query, {"study": study._study_id, "before": started_before})]
    for trial_id in silent:
        try:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            pass  # finished or failed meanwhile by another worker
