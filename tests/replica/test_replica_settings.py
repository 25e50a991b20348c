"""PASSPORT_READ_DATABASE_URL is for PostgreSQL standbys only: refused, with a clear message, anywhere else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.db.replicas import describe, parse_read_urls


def test_unset_means_every_read_on_the_primary():
    assert Settings(database_url="sqlite:///x.db").read_database_url == ""
    assert parse_read_urls("") == [] and parse_read_urls(" , ") == []


def test_a_sqlite_primary_with_read_replicas_is_refused():
    with pytest.raises(ValidationError, match="PASSPORT_READ_DATABASE_URL needs a PostgreSQL PASSPORT_DATABASE_URL"):
        Settings(database_url="sqlite:///x.db", read_database_url="postgresql://db2/passport")


def test_a_read_url_that_is_not_postgresql_is_refused():
    with pytest.raises(ValidationError, match="PostgreSQL URLs"):
        Settings(database_url="postgresql://db1/passport", read_database_url="postgresql://db2/p,sqlite:///r.db")


def test_the_lag_limit_must_be_positive():
    with pytest.raises(ValidationError):
        Settings(database_url="postgresql://db1/passport", max_replica_lag_seconds=0)


def test_several_standbys_are_named_without_their_passwords():
    urls = parse_read_urls("postgresql://u:secret@db2:5433/passport, postgres://db3/passport")
    assert urls == ["postgresql+psycopg://u:secret@db2:5433/passport", "postgresql+psycopg://db3/passport"]
    assert [describe(url) for url in urls] == ["db2:5433/passport", "db3:5432/passport"]


def test_behind_pgbouncer_the_lag_watch_still_gets_urls_libpq_accepts():
    """The pooler setting adds ``prepare_threshold=none`` to the database URL (and a standby URL may carry it); the
    lag thread's own psycopg connections must get URLs without it, which libpq would refuse."""
    import psycopg.conninfo

    from app.db.replicas import _libpq

    settings = Settings(
        database_url="postgresql+psycopg://u:p@db1:5432/passport",
        read_database_url="postgresql://u:p@db2/passport?prepare_threshold=none",
        database_pooler="pgbouncer",
    )
    assert "prepare_threshold" in settings.database_url
    for url in (settings.database_url, *parse_read_urls(settings.read_database_url)):
        with pytest.raises(psycopg.ProgrammingError, match="prepare_threshold"):
            psycopg.conninfo.conninfo_to_dict(url.replace("+psycopg", ""))
        parts = psycopg.conninfo.conninfo_to_dict(_libpq(url))
        assert (parts["user"], parts["password"], parts["dbname"]) == ("u", "p", "passport")
        assert "prepare_threshold" not in parts
