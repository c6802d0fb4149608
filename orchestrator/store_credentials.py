"""A database password never reaches the tracking server's command line or a log: `jdnas tracking-server`
takes it out of a postgresql:// (or mysql://) backend-store URI and hands it to `mlflow server` through the
environment (PGPASSWORD, which libpq reads; a ~/.pgpass or $PGPASSFILE works without any of this), and
prints the URI with the password masked. `ps` shows only `postgresql://USER@HOST:PORT/DB`."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

PASSWORD_ENV = {"postgresql": "PGPASSWORD"}  # libpq's variable; psycopg (SQLAlchemy's driver) goes through libpq


def _without_password(uri: str, replacement: str | None) -> str:
    parts = urlsplit(uri)
    user = parts.username or ""
    userinfo = f"{user}:{replacement}@" if replacement is not None else (f"{user}@" if user else "")
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = userinfo + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def masked(uri: str) -> str:
    """The URI for people: its password (if any) as ***."""
    return _without_password(uri, "***") if urlsplit(uri).password else uri


def split_password(uri: str) -> tuple[str, dict[str, str]]:
    """(URI without its password, environment that passes the password to the server). A URI without a
    password comes back as it is: the server then finds it in $PGPASSWORD, $PGPASSFILE or ~/.pgpass."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri, {}
    dialect = parts.scheme.split("+")[0]
    if dialect not in PASSWORD_ENV:
        raise ValueError(f"backend store {masked(uri)}: put the password in a PostgreSQL URI's environment "
                         "(PGPASSWORD, ~/.pgpass), not in the URI")
    return _without_password(uri, None), {PASSWORD_ENV[dialect]: unquote(parts.password)}
