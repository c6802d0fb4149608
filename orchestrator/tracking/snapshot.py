"""A head node's tracking store kept where `ray down` does not reach, and brought back on a new head.

The SQLite files of the store (MLflow's runs and registry, the basic-auth app's users) are copied with
SQLite's online backup, which reads a consistent state while `mlflow server` goes on writing; the local
artifact folder (models, reports) is mirrored file by file (artifacts are written once, so a file already
there with its size is skipped). Both go to a snapshot location on the sweep storage: a local/NFS path or
s3://bucket/prefix (orchestrator.records.storage). Layout:

    <snapshot>/artifacts/...        every artifact, as under --artifacts-destination
    <snapshot>/databases/NAME       each SQLite file (mlflow.db, basic_auth.db)
    <snapshot>/snapshot.json        written last: when, from where, what (a restore reads only this list)

Order, so a snapshot cut short by a kill never pairs a database with artifacts it lacks: databases are
copied locally first, then the artifacts mirrored (everything those databases reference, and maybe more),
then the databases uploaded (each PUT or rename whole), then the manifest. A PostgreSQL store lives off the
head already; its snapshot holds the artifacts alone.
"""
from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from orchestrator.atomic import is_temp_name, write_atomic
from orchestrator.records.storage import Storage

MANIFEST = "snapshot.json"


@dataclass(frozen=True)
class TrackingFiles:
    """The head-local parts of one tracking server's store."""
    databases: dict[str, Path]      # snapshot name -> SQLite file on the head
    artifacts: Path | None          # --artifacts-destination when it is a local folder, else None

    @classmethod
    def of_server(cls, backend_store_uri: str, artifacts_destination: str, auth_dir: str | Path | None = None
                  ) -> "TrackingFiles":
        databases = {}
        if backend_store_uri.startswith("sqlite:///"):
            databases["mlflow.db"] = Path(backend_store_uri[len("sqlite:///"):]).expanduser()
        if auth_dir is not None:
            databases["basic_auth.db"] = Path(auth_dir).expanduser() / "basic_auth.db"
        artifacts = None if "://" in artifacts_destination else Path(artifacts_destination).expanduser()
        return cls(databases, artifacts)


def _backup(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (SQLite's online backup API)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _remote_sizes(storage: Storage, *parts: str) -> dict[str, int]:
    root = storage.join(*parts)
    found = storage.fs().get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return {info.path[len(root) + 1:]: info.size for info in found  # not a copy a kill left half-written
            if info.type == pafs.FileType.File and not is_temp_name(info.base_name)}


def snapshot(files: TrackingFiles, storage: Storage) -> dict:
    """Copy the store to `storage`; returns what was written (also the manifest's content)."""
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="jdnas-snapshot-") as staging:
        copies = {}
        for name, path in files.databases.items():
            if path.exists():
                copies[name] = Path(staging) / name
                _backup(path, copies[name])
        copied = total = 0
        if files.artifacts is not None and files.artifacts.is_dir():
            there = _remote_sizes(storage, "artifacts")
            for local in sorted(p for p in files.artifacts.rglob("*") if p.is_file()):
                relative = local.relative_to(files.artifacts).as_posix()
                total += 1
                if there.get(relative) != local.stat().st_size:
                    storage.write_bytes(local.read_bytes(), "artifacts", relative)  # whole, or not at all
                    copied += 1
        for name, copy in copies.items():
            storage.write_bytes(copy.read_bytes(), "databases", name)
        manifest = dict(taken_at=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)), host=socket.gethostname(),
                        databases={name: copy.stat().st_size for name, copy in copies.items()},
                        artifacts=total, artifacts_copied=copied, seconds=round(time.time() - started, 2))
    storage.write_bytes(json.dumps(manifest, indent=1).encode(), MANIFEST)
    return manifest


def read_manifest(storage: Storage) -> dict | None:
    return json.loads(storage.read_bytes(MANIFEST)) if storage.exists(MANIFEST) else None


def restore(storage: Storage, files: TrackingFiles, *, overwrite: bool = False) -> dict:
    """Bring a snapshot back onto this head. Refuses (ValueError) to replace a database that is already here
    unless `overwrite`; an artifact already here with the snapshot's size is kept."""
    manifest = read_manifest(storage)
    if manifest is None:
        raise ValueError(f"no tracking snapshot at {storage.display(MANIFEST)}")
    present = [str(files.databases[n]) for n in manifest["databases"] if n in files.databases
               and files.databases[n].exists()]
    if present and not overwrite:
        raise ValueError(f"{', '.join(present)} already exist here; pass --force to replace them with the "
                         f"snapshot of {manifest['taken_at']} (or --if-missing to keep them)")
    fetched = 0
    if files.artifacts is not None:
        for relative, size in _remote_sizes(storage, "artifacts").items():
            local = files.artifacts / relative
            if local.exists() and local.stat().st_size == size:
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(local, storage.read_bytes("artifacts", relative))
            fetched += 1
    for name in manifest["databases"]:
        if name not in files.databases:
            continue
        target = files.databases[name]
        target.parent.mkdir(parents=True, exist_ok=True)
        if name == "basic_auth.db":
            target.parent.chmod(0o700)  # the users' database goes back behind its owner's door
        write_atomic(target, storage.read_bytes("databases", name))
        target.chmod(0o600)
    return dict(manifest, artifacts_fetched=fetched)


def snapshot_line(files: TrackingFiles, storage: Storage) -> str:
    """One snapshot, as one line for the server's log; a failure (S3 down, disk full) is a line too: the
    server keeps serving and the next snapshot tries again."""
    try:
        done = snapshot(files, storage)
    except Exception as err:  # noqa: BLE001 - never stop a tracking server over its backup
        return f"[jdnas] tracking snapshot to {storage.display()} FAILED ({type(err).__name__}: {err}); next try later"
    sizes = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in done["databases"].items()) or "no database"
    return (f"[jdnas] tracking snapshot to {storage.display()}: {sizes}, {done['artifacts']} artifacts "
            f"({done['artifacts_copied']} new), {done['seconds']:.1f} s")


def serve_with_snapshots(command: list[str], env: dict[str, str], files: TrackingFiles, storage: Storage,
                         every_s: float) -> int:
    """Run `mlflow server` as a child, snapshot its store every `every_s` seconds, and once more after the
    server stops (Ctrl-C / SIGTERM stop it), so what `ray down` ends is the last state written."""
    server = subprocess.Popen(command, env=env)  # in this process group: a Ctrl-C or killpg reaches both
    interrupted = False
    try:
        next_at = time.monotonic() + every_s
        while server.poll() is None:
            time.sleep(min(1.0, max(0.05, next_at - time.monotonic())))
            if time.monotonic() >= next_at:
                print(snapshot_line(files, storage), flush=True)
                next_at = time.monotonic() + every_s
    except KeyboardInterrupt:
        interrupted = True
    server.terminate()  # also when only this process was signalled
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    print(snapshot_line(files, storage), flush=True)
    if not interrupted and server.returncode:
        print(f"jdnas: mlflow server exited with {server.returncode}", file=sys.stderr)
        return 1
    return 0
