"""Real servers on 127.0.0.1 for the tests: a file server that honours HTTP Range and can cut a
transfer half-way, and a moto S3 endpoint."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orchestrator.local_cluster import free_port, stop_process_groups

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class FileServer:
    """Serves the files of `root`; `requests` records (name, Range header, bytes sent) of every GET.
    A name in `cut_once` gets half its bytes on the first GET, under a Content-Length for all of them,
    then the connection drops: what a flaky network does."""

    def __init__(self, root: Path, cut_once: set[str] = frozenset()):
        self.root, self.cut_once, self.requests = Path(root), set(cut_once), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = server.root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data, start = path.read_bytes(), 0
                ranged = self.headers.get("Range")
                if ranged:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path.name in server.cut_once:
                    server.cut_once.discard(path.name)
                    body = body[:len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)
                server.requests.append((path.name, ranged, len(body)))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


@contextlib.contextmanager
def moto_s3(bucket: str):
    """A moto S3 endpoint in server mode with one bucket; yields (endpoint URL, boto3 client)."""
    import boto3

    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_http(endpoint)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        yield endpoint, s3
    finally:
        stop_process_groups([moto])
