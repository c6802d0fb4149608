"""The one place that keeps passwords out of what jdnas prints, logs or puts on a command line: URIs are
shown with their password masked, and a password inside a URI that would travel on a command line is
refused (the environment or a pgpass file carries it instead)."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


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


def store_uri_off_argv(command: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """A `mlflow server` command whose --backend-store-uri holds a password, rewritten to pass that URI in
    MLFLOW_BACKEND_STORE_URI (which `mlflow server` reads) instead of on its command line."""
    if "--backend-store-uri" not in command:
        return command, env
    at = command.index("--backend-store-uri")
    if not _password(command[at + 1]):
        return command, env
    return command[:at] + command[at + 2:], {**env, "MLFLOW_BACKEND_STORE_URI": command[at + 1]}
