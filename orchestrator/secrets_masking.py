"""The one place that keeps passwords out of what jdnas prints, logs or puts on a command line: URIs are
shown with their password masked, and a password inside a URI that would travel on a command line is
refused (the environment or a pgpass file carries it instead)."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
PASSWORD_ENV = {"postgresql": "PGPASSWORD"}  # libpq's variable; psycopg (SQLAlchemy's driver) goes through libpq


def _password(uri: str) -> str | None:
    try:
        return urlsplit(uri).password
    except ValueError:
        return None


def mask_uri(uri: str | None) -> str | None:
    """`uri` with the password of its user part replaced by ***; anything else unchanged."""
    if not uri or not _password(uri):
        return uri
    parts = urlsplit(uri)
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"))


def check_no_password(uri: str | None, where: str = "the job's command line") -> None:
    """ValueError if `uri` holds a password that would end up on `where`."""
    if uri and _password(uri):
        raise ValueError(f"{mask_uri(uri)} holds a password, which would be visible on {where}: drop it from the "
                         "URI and set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (or PGPASSFILE) instead")


def split_password(uri: str) -> tuple[str, dict[str, str]]:
    """(backend-store URI without its password, environment that hands the password to `mlflow server`): `ps`
    then shows only postgresql://USER@HOST:PORT/DB. A URI without a password comes back as it is (the server
    finds it in $PGPASSWORD, $PGPASSFILE or ~/.pgpass)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri, {}
    dialect = parts.scheme.split("+")[0]
    if dialect not in PASSWORD_ENV:
        raise ValueError(f"backend store {mask_uri(uri)}: put the password in a PostgreSQL URI's environment "
                         "(PGPASSWORD, ~/.pgpass), not in the URI")
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}@{host}")), \
        {PASSWORD_ENV[dialect]: unquote(parts.password)}
