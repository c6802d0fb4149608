"""Checksummed, resumable downloads of the registry's public datasets (`jdnas data download NAME`).

A file is fetched into `NAME.part`; a cut connection is retried with an HTTP Range request from the
bytes already on disk (and a later run of the same command resumes the same way), so a multi-GB archive
is never fetched twice. Every finished file is checked against a checksum before anything uses it. A file
this code wrote (listed in the folder's `.jdnas-downloads.json`) that is corrupt or truncated is removed and
fetched once more; a file it did not write is never deleted: a mismatch names it and leaves it alone. An
archive is unpacked into a temporary folder renamed into place when complete, so a cut unpack is never
taken for a finished one. A full disk is reported as such, not as a lost connection. `mirror` (or $JDNAS_DATA_MIRROR) replaces the upstream hosts by one
URL prefix holding the same file names: an institute's mirror, or a local test server.
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import json
import shutil
import http.client
import os
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from tqdm import tqdm

from .registry import DATASETS
from .sources import RemoteFile, Source

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """The network or the server failed; the partial file is kept for a resume."""


class ChecksumError(RuntimeError):
    """A downloaded file is not the published one; it was removed."""


# every dataset's download is part of its one entry in the registry; this is a view of them
SOURCES: dict[str, Source] = {name: entry.source for name, entry in DATASETS.items() if entry.source}


def file_url(remote: RemoteFile, mirror: str | None) -> str:
    mirror = mirror or os.environ.get("JDNAS_DATA_MIRROR")
    return f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url


def digest(path: Path, algorithm: str, of_payload: bool = False) -> str:
    """The file's digest; 'unreadable ...' for a payload that is no gzip or is cut short."""
    h = hashlib.new(algorithm)
    try:
        with (gzip.open if of_payload else open)(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        return f"unreadable ({type(err).__name__})"
    return h.hexdigest()


LEDGER = ".jdnas-downloads.json"


def written_here(folder: Path) -> set[str]:
    """Names of the files in `folder` that a download wrote (only those may be deleted)."""
    try:
        return set(json.loads((folder / LEDGER).read_text()))
    except (OSError, ValueError):
        return set()


def note_written(folder: Path, name: str, written: bool = True) -> None:
    names = written_here(folder) | {name} if written else written_here(folder) - {name}
    (folder / LEDGER).write_text(json.dumps(sorted(names)))


def disk_full(err: OSError, path: Path) -> DownloadError:
    free = shutil.disk_usage(path.parent).free
    return DownloadError(f"disk full writing {path} ({free:,} bytes free on its file system); free some space "
                         "and run the same command again: what was fetched is kept")


def _progress(total: int | None, start: int, label: str):
    return tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                file=sys.stderr, disable=not sys.stderr.isatty(), mininterval=0.5)


def _fetch_once(url: str, part: Path) -> None:
    """One HTTP request appending to `part` from its current size; raises on any short transfer."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part file is complete
            return
        raise
    with response:
        if have and response.status != 206:  # the server ignores Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        got = have
        with open(part, "ab" if have else "wb") as f, _progress(expected, have, part.name[:-5]) as bar:
            while block := response.read(CHUNK):
                f.write(block)
                got += len(block)
                bar.update(len(block))
    if expected is not None and got < expected:
        raise http.client.IncompleteRead(b"", expected - got)


def fetch(url: str, dest: Path, retries: int = 3) -> None:
    """Download `url` to `dest` through `dest.part`, resuming with HTTP Range after a cut connection."""
    part = dest.with_name(dest.name + ".part")
    resumed = part.stat().st_size if part.exists() else 0
    print(f"downloading {url} -> {dest}" + (f" (resuming after {resumed:,} bytes)" if resumed else ""),
          file=sys.stderr, flush=True)
    t0 = time.time()
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part)
            break
        except urllib.error.HTTPError as err:
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (OSError, http.client.HTTPException) as err:
            if getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
                raise disk_full(err, part) from None
            have = part.stat().st_size if part.exists() else 0
            if attempt == retries:
                raise DownloadError(f"{url}: {type(err).__name__}: {err} after {retries + 1} attempts; {have:,} bytes "
                                    "kept in the .part file, run the same command again to resume") from None
            print(f"  connection lost after {have:,} bytes ({type(err).__name__}); resuming", file=sys.stderr,
                  flush=True)
            time.sleep(min(2 ** attempt, 10) * 0.1)
    part.rename(dest)
    print(f"  {dest.stat().st_size / 1e6:.1f} MB in {time.time() - t0:.1f} s", file=sys.stderr, flush=True)


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise ChecksumError unless `path` is the published file; remove it only if a download wrote it."""
    got = digest(path, remote.algorithm, remote.of_payload)
    if got == remote.digest:
        return
    if path.name in written_here(path.parent):
        path.unlink()
        note_written(path.parent, path.name, written=False)
        raise ChecksumError(f"checksum mismatch for {path.name} ({remote.algorithm} {got}, expected {remote.digest}); "
                            "the file was removed: run the same command again to fetch it anew")
    raise ChecksumError(f"checksum mismatch for {path} ({remote.algorithm} {got}, expected {remote.digest}): it was "
                        "there before and is kept; move it away and run the same command again to fetch the published one")


def fetch_verified(remote: RemoteFile, path: Path, mirror: str | None) -> None:
    """The published file at `path`: one present is checked; a corrupt one this code wrote is fetched again once."""
    for attempt in (0, 1):
        if not path.exists():
            fetch(file_url(remote, mirror), path)
            note_written(path.parent, path.name)
        else:
            print(f"{path} present, checking it", file=sys.stderr)
        try:
            return verify(path, remote)
        except ChecksumError:
            if attempt or path.exists():  # the second try failed too, or the file is not ours
                raise
            print(f"  {path.name} was corrupt or truncated; fetching it again", file=sys.stderr, flush=True)


def extract_data_only(tar: tarfile.TarFile, into: Path) -> None:
    """Plain files and folders only, each inside `into`: tarfile's 'data' filter where this Python has it
    (3.11.4+), else the same refusal by hand (Debian 12's 3.11.2 lacks it)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or (target != root and root not in target.parents):
            raise tarfile.TarError(f"refusing {member.name!r}: not a plain file inside the archive's folder")
    tar.extractall(into)


def unpack(archive: Path, data_dir: Path, unpacks_to: str) -> Path:
    """Unpack into a temporary folder beside the target, renamed into place once complete."""
    temp = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=data_dir))
    try:
        with tarfile.open(archive) as tar:
            extract_data_only(tar, temp)
        os.replace(temp / unpacks_to, data_dir / unpacks_to)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full(err, data_dir / unpacks_to) from None
        raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return data_dir / unpacks_to


def download_dataset(name: str, data_dir: str | Path, mirror: str | None = None) -> Path:
    """Fetch, verify (and unpack) a dataset into data_dir; returns the folder its reader will find.
    Files already present and intact are not fetched again."""
    if name not in SOURCES:
        raise ValueError(f"no public download for dataset {name!r}; downloadable: {', '.join(SOURCES)}")
    source, data_dir = SOURCES[name], Path(data_dir).expanduser()
    folder = data_dir / source.folder
    if source.unpacks_to and (data_dir / source.unpacks_to).is_dir():
        print(f"{name}: {data_dir / source.unpacks_to} already unpacked", file=sys.stderr)
        return data_dir / source.unpacks_to
    folder.mkdir(parents=True, exist_ok=True)
    for remote in source.files:
        fetch_verified(remote, folder / remote.filename, mirror)
    if source.unpacks_to:
        for remote in source.files:
            unpack(folder / remote.filename, data_dir, source.unpacks_to)
        return data_dir / source.unpacks_to
    return folder
