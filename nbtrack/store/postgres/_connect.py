"""Connecting to the team store, and database errors in words a user can act on."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ...errors import StoreError
from .schema import SCHEMA

__all__ = ["CONNECT_TIMEOUT", "connect", "explain"]

#: Session settings that make values come back as stored whatever the database's or the
#: role's defaults: every float digit, ISO dates (Arrow parses them), UTC.
_OPTIONS = (
    f"-c search_path={SCHEMA} -c extra_float_digits=3 -c DateStyle=ISO -c TimeZone=UTC "
    "-c IntervalStyle=postgres"
)

#: Seconds to wait for the database to answer a connection (a fold retries later).
CONNECT_TIMEOUT = 5


def connect(url: str, shown: str) -> Any:
    """An autocommit connection whose search path finds nbtrack's tables."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            f"the store {shown} is a PostgreSQL database, which needs the psycopg driver: "
            "pip install 'nbtrack[postgres]' (or pip install 'psycopg[binary]')"
        ) from None
    try:
        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="nbtrack",
            options=_OPTIONS,
            # A link that dies without a word (a cable, a VPN) is noticed in about 30 s.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            tcp_user_timeout=30_000,
        )
    except psycopg.OperationalError as exc:
        raise StoreError(scrub(explain(exc, shown), url)) from None
    except (psycopg.Error, ValueError) as exc:  # a malformed URL: libpq could not parse it
        raise StoreError(
            f"the store URL {shown} is not a PostgreSQL URL libpq understands ({scrub(str(exc), url)}); "
            "write it as postgresql://user[:password]@host[:port]/database"
        ) from None


def scrub(text: str, url: str) -> str:
    """``text`` without the URL's password (libpq quotes pieces of a bad URL in its errors)."""
    from ..._settings import secret

    hidden = secret(url)
    if hidden:
        for form in {hidden, hidden.replace("%", "%25")}:
            text = text.replace(form, "***")
    return text


def explain(exc: BaseException, shown: str) -> str:
    """A database error as one message: what happened, at which store, what to do."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = str(exc).lower()
    try:
        parts = urlsplit(shown)
        database = parts.path.lstrip("/") or "(default)"
        user = parts.username or "(default user)"
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError:  # a URL libpq parsed and urllib cannot
        database, user, where = "(in the URL)", "(in the URL)", shown
    if "does not exist" in lowered and "database" in lowered and "role" not in lowered:
        return (
            f"the database {database!r} does not exist on the PostgreSQL server at {where} "
            f"({text}). Create it (createdb {database}, or CREATE DATABASE {database}) or fix "
            "the URL in NBTRACK_STORE / nbtrack.settings(store=...)"
        )
    if (
        "password authentication failed" in lowered
        or "no password supplied" in lowered
        or ("role" in lowered and "does not exist" in lowered)
    ):
        return (
            f"the PostgreSQL server at {where} refused user {user!r}: wrong user or password "
            f"({text}). Fix the URL (postgresql://user:password@host/db) or use ~/.pgpass"
        )
    if "permission denied" in lowered or "must be owner" in lowered:
        return (
            f"user {user!r} lacks rights in database {database!r} at {where} ({text}). nbtrack "
            f"needs its own schema {SCHEMA!r}: have the database owner run "
            f"GRANT CREATE ON DATABASE {database} TO {user} (once), or point at a database "
            "the user owns"
        )
    if any(
        sign in lowered
        for sign in (
            "connection refused",
            "timeout expired",
            "could not translate host",
            "server closed the connection",
            "no route to host",
            "terminating connection",
            "consuming input failed",
            "connection is lost",
            "the connection is closed",
            "failed to resolve host",
            "name or service not known",
        )
    ):
        return (
            f"no PostgreSQL server answers at {where} for the store {shown} ({text}). Is it "
            "running and reachable from this machine? Check the host and port in the URL"
        )
    return f"the PostgreSQL store {shown} failed: {type(exc).__name__}: {text}"
