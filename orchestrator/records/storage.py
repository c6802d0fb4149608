"""Where Tune keeps results: a local/NFS path or s3://bucket/prefix through a pyarrow filesystem."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from orchestrator.atomic import write_atomic


@dataclass(frozen=True)
class Storage:
    uri: str                                  # what the user gave, made absolute for local paths
    path: str                                 # storage_path for Tune (no scheme for S3)
    filesystem: pafs.FileSystem | None        # None: Tune's default for local paths

    @property
    def is_remote(self) -> bool:
        return self.filesystem is not None

    def fs(self) -> pafs.FileSystem:
        return self.filesystem or pafs.LocalFileSystem()

    def join(self, *parts: str) -> str:
        return "/".join([self.path.rstrip("/"), *parts])

    def display(self, *parts: str) -> str:
        return "/".join([self.uri.rstrip("/"), *parts])

    def write_bytes(self, data: bytes, *parts: str) -> str:
        """Atomically: temp file + rename on a local/NFS path; an S3 object appears whole when its PUT ends."""
        target = self.join(*parts)
        self.fs().create_dir(target.rsplit("/", 1)[0], recursive=True)
        if not self.is_remote:
            write_atomic(target, data)
            return self.display(*parts)
        with self.fs().open_output_stream(target) as f:
            f.write(data)
        return self.display(*parts)

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs().open_input_stream(self.join(*parts)) as f:
            return f.readall()

    def exists(self, *parts: str) -> bool:
        return self.fs().get_file_info(self.join(*parts)).type != pafs.FileType.NotFound

    def folders(self, *parts: str) -> list[str]:
        """Names of the folders directly under `parts` (the experiments when empty), sorted; [] if absent."""
        selector = pafs.FileSelector(self.join(*parts), allow_not_found=True)
        return sorted(info.base_name for info in self.fs().get_file_info(selector)
                      if info.type == pafs.FileType.Directory)


def resolve_storage(uri: str | Path, s3_endpoint: str | None = None) -> Storage:
    """s3://bucket/prefix (endpoint from s3_endpoint or $AWS_ENDPOINT_URL for S3-compatible stores,
    credentials from the usual AWS variables) or a local/NFS path."""
    text = str(uri)
    if text.startswith("s3://"):
        endpoint = s3_endpoint or os.environ.get("AWS_ENDPOINT_URL")
        kwargs = {}
        if endpoint and not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"S3 endpoint {endpoint!r}: give its scheme, e.g. http://{endpoint}")
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs = dict(endpoint_override=host or scheme, scheme=scheme if host else "https")
        region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        fs = pafs.S3FileSystem(region=region, **kwargs)
        return Storage(text, text[len("s3://"):].rstrip("/"), fs)
    if "://" in text:
        raise ValueError(f"storage {text!r}: use a local/NFS path or s3://bucket/prefix")
    path = Path(text).expanduser().resolve()
    return Storage(str(path), str(path), None)
