"""Where a public dataset is downloaded from: its files, their checksums, and how they land in the data folder
(trainables/data/download.py fetches them; each dataset's entry in the registry names its source)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    url: str
    algorithm: str               # hashlib name
    digest: str
    of_payload: bool = False     # digest of the gunzipped payload (same for upstream and Debian's repack)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from and how it lands in DIR: `folder` receives the files; an archive is
    unpacked into DIR and yields `unpacks_to`."""
    files: tuple[RemoteFile, ...]
    folder: str
    size: str
    unpacks_to: str | None = None
