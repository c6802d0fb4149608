"""An MLflow tracking server that asks who you are: MLflow's own basic-auth app (`mlflow server --app-name
basic-auth`), an admin plus users with per-experiment permissions.

Secrets travel only through the server's environment (MLflow 3.17 reads MLFLOW_AUTH_ADMIN_USERNAME /
MLFLOW_AUTH_ADMIN_PASSWORD, mlflow/server/auth/config.py) and through files only their owner can read: never
argv (visible in `ps`), never the log. The admin's credentials come from those variables or from a
`USER:PASSWORD` file of mode 0600. `with_auth` is the one entry point, for `jdnas tracking-server --auth` and
any other launcher (a batch script on a head node) alike.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

ADMIN_USER_ENV, ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"
DEFAULT_PERMISSION = "READ"  # every user reads every experiment; editing or deleting needs a grant (or being its creator)


def read_private_file(path: Path) -> str:
    """A secret file's text; ValueError when group or others may read it (or it is missing)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"credentials file {path} does not exist")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"credentials file {path} is readable by others: chmod 600 {path}")
    return path.read_text().strip()


def admin_credentials(credentials_file: str | Path | None = None) -> tuple[str, str]:
    """(username, password) of the admin: from a USER:PASSWORD file, else from the MLFLOW_AUTH_ADMIN_* variables."""
    if credentials_file:
        username, sep, password = read_private_file(Path(credentials_file)).partition(":")
        if not sep or not username or not password:
            raise ValueError(f"credentials file {credentials_file}: expected one line USER:PASSWORD")
        return username, password
    if not os.environ.get(ADMIN_PASSWORD_ENV):
        raise ValueError(f"--auth needs the admin's password: set {ADMIN_PASSWORD_ENV} (and {ADMIN_USER_ENV}, "
                         "default admin) or pass --admin-credentials FILE (USER:PASSWORD, chmod 600)")
    return os.environ.get(ADMIN_USER_ENV) or "admin", os.environ[ADMIN_PASSWORD_ENV]


def write_auth_config(state_dir: Path) -> Path:
    """MLflow's auth config (users and permissions kept in SQLite beside it), in a folder only its owner
    can enter. It holds no password."""
    state_dir = Path(state_dir).expanduser()
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    path = state_dir / "basic_auth.ini"
    path.write_text(f"[mlflow]\ndefault_permission = {DEFAULT_PERMISSION}\n"
                    f"database_uri = sqlite:///{state_dir.resolve()}/basic_auth.db\n"
                    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    path.chmod(0o600)
    return path


def with_auth(command: list[str], env: dict[str, str], state_dir: Path,
              credentials_file: str | Path | None = None) -> tuple[list[str], dict[str, str]]:
    """`mlflow server` argv and environment turned into the basic-auth app's."""
    username, password = admin_credentials(credentials_file)
    env = {**env, "MLFLOW_AUTH_CONFIG_PATH": str(write_auth_config(state_dir)), ADMIN_USER_ENV: username,
           ADMIN_PASSWORD_ENV: password,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": env.get("MLFLOW_FLASK_SERVER_SECRET_KEY") or secrets.token_hex(32)}
    return [*command, "--app-name", "basic-auth"], env
