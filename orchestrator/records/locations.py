"""Where a run's records go, decided in one place for the CLI and the runner: the MLflow tracking URI
(--tracking-uri, else $JDNAS_TRACKING_URI, else SQLite in the run folder) and its artifact root, and Tune's
storage (--storage, else $JDNAS_STORAGE, else WORKDIR/results). An unreachable store fails here in one
line, before Ray or MLflow load (this module imports neither)."""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from orchestrator.records.storage import Storage, resolve_storage


def tracking_uri_for(uri: str | None, workdir: Path) -> str:
    """--tracking-uri, else $JDNAS_TRACKING_URI, else SQLite in the run folder (absolute, for workers)."""
    return uri or os.environ.get("JDNAS_TRACKING_URI") or f"sqlite:///{workdir / 'mlflow.db'}"


def artifact_root_for(tracking_uri: str, workdir: Path) -> str | None:
    """Where a SQLite store's artifacts go (beside it in the run folder); a server decides its own."""
    return str(workdir / "mlartifacts") if tracking_uri.startswith("sqlite") else None


def storage_for(storage: str | None, s3_endpoint: str | None, workdir: Path) -> Storage:
    """--storage, else $JDNAS_STORAGE, else WORKDIR/results; the endpoint from --s3-endpoint or $JDNAS_S3_ENDPOINT."""
    return resolve_storage(storage or os.environ.get("JDNAS_STORAGE") or workdir / "results",
                           s3_endpoint or os.environ.get("JDNAS_S3_ENDPOINT"))


def check_tracking_uri(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before Ray starts, when the tracking store cannot be reached."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
                if response.status != 200:
                    raise ConnectionError(f"status {response.status}")
        except (OSError, ConnectionError, urllib.error.URLError) as err:
            raise ConnectionError(f"MLflow tracking server {uri} is unreachable ({err}); start it with "
                                  f"`jdnas tracking-server` or pass --tracking-uri") from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///"):]).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ConnectionError(f"MLflow store {uri}: folder {folder} does not exist or is not writable")
    elif uri.startswith("file:") or "://" not in uri or uri.startswith("sqlite:"):
        raise ValueError(f"tracking URI {uri!r}: use sqlite:///ABSOLUTE/PATH.db or http(s)://HOST:PORT "
                         "(MLflow 3 refuses the ./mlruns file store)")


def quiet_http_retries(uri: str) -> None:
    """MLflow retries HTTP calls for minutes by default (7 tries, factor 2); a few quick tries (1, 2, 4 s)
    ride out a hiccup, and the callback keeps what is still unsent and retries with its own back-off."""
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def tracking_for(uri: str | None, workdir: Path) -> str:
    """The tracking URI in use, checked reachable, with MLflow's own HTTP retries turned down."""
    uri = tracking_uri_for(uri, workdir)
    check_tracking_uri(uri)
    quiet_http_retries(uri)
    return uri


def run_locations(tracking_uri: str | None, storage: str | None, s3_endpoint: str | None,
                  workdir: Path) -> tuple[str, Storage]:
    """The checked tracking URI and the Tune storage of a sweep (`jdnas run` and `jdnas sync-mlflow`)."""
    return tracking_for(tracking_uri, workdir), storage_for(storage, s3_endpoint, workdir)
