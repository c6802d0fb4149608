"""Token auth and loopback binding for every Ray that jdnas starts.

Ray 2.60 token auth: `RAY_AUTH_MODE=token` switches it on for the processes that read it; the token comes
from `RAY_AUTH_TOKEN`, else the file named by `RAY_AUTH_TOKEN_PATH`, else `~/.ray/auth_token` (Ray's own
loader, ray/_private/authentication). Every gRPC call between Ray processes and every HTTP request to the
dashboard and the dashboard agent (`Authorization: Bearer TOKEN`) must carry it. jdnas keeps the user's own
token where one is set and otherwise makes a fresh random one, handed on through the environment only: a
token left out of the environment would make `ray.init` write a new one to `~/.ray/auth_token` itself.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

MODE_ENV, TOKEN_ENV, TOKEN_PATH_ENV = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
# Ray's switch for "this machine is no cluster": node addresses resolve to 127.0.0.1 and every listener
# binds loopback (ray/_private/services.get_node_ip_address); it is read when `ray` is imported.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def user_token() -> str | None:
    """The token the user set for Ray, in Ray's own order of precedence; None when there is none."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    for path in (os.environ.get(TOKEN_PATH_ENV), Path.home() / ".ray" / "auth_token"):
        if path and Path(path).expanduser().is_file():
            return Path(path).expanduser().read_text().strip() or None
    return None


def fresh_token() -> str:
    return secrets.token_hex(32)


def token_env(token: str | None = None) -> dict[str, str]:
    """Environment that turns token auth on with `token` (default: the user's own, else a fresh one)."""
    return {MODE_ENV: "token", TOKEN_ENV: token or user_token() or fresh_token()}


_process_token: str | None = None  # the fresh token this process made, once: Ray's C++ loader keeps the first


def use_token_auth() -> str:
    """Token auth for this process and every Ray process it starts; returns the token. One token per
    process: Ray's C++ loader caches the first token it reads, so a second local Ray of the same process (a
    notebook, a test suite that restores os.environ between tests) gets the same fresh token again."""
    global _process_token
    own = user_token()
    env = token_env(own or _process_token)
    _process_token = _process_token or (None if own else env[TOKEN_ENV])
    if os.environ.get(TOKEN_PATH_ENV) and not os.environ.get(TOKEN_ENV):
        env.pop(TOKEN_ENV)  # the user's token file stays the one source
    os.environ.update(env)
    from ray._raylet import Config  # lazy: Ray (~1.5 s)

    Config.initialize("")  # Ray's C++ config read RAY_AUTH_MODE at import; re-read it, as Ray's own opt-in does
    return env.get(TOKEN_ENV) or user_token()


@contextmanager
def loopback_only():
    """Around a local `ray.init`: its GCS, raylet, workers and agents bind 127.0.0.1 (Ray turns an explicit
    127.0.0.1 node address into the LAN address, so `_node_ip_address` cannot do it). Undone afterwards: the
    processes Ray started keep it, while a later `ray start --address` (a worker node) would refuse to run."""
    from ray._private import ray_constants  # lazy: Ray (~1.5 s)

    previous = os.environ.get(LOOPBACK_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOOPBACK_ENV] = "0"  # for the processes ray.init spawns
    ray_constants.ENABLE_RAY_CLUSTER = False  # this process imported ray before the variable was set
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous[1]
        if previous[0] is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = previous[0]


def auth_header(token: str) -> dict[str, str]:
    """The HTTP header Ray's dashboard and dashboard agent check."""
    return {"Authorization": f"Bearer {token}"}


def write_private_token(path: Path, token: str) -> Path:
    """The token in a file only its owner can read (Ray's own `ray get-auth-token --generate` obeys the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(token)
    return path


def token_hint(token: str, folder: Path) -> str:
    """What a client of a cluster needs to know about its token, without printing the token."""
    if token == user_token():
        return "token auth on: clients use your own Ray token"
    path = write_private_token(folder / "auth_token", token)
    return f"token auth on: clients need  export {TOKEN_PATH_ENV}={path}"
