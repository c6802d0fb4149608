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

from orchestrator.cluster.local import free_port, stop_process_groups

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class LoopbackServer:
    """A ThreadingHTTPServer (`self.httpd`) on 127.0.0.1 served from a thread while in a `with` block."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class FileServer(LoopbackServer):
    """Serves the files of `root`; `requests` records (name, Range header, bytes sent) of every GET.
    A name in `cut_once` gets half its bytes on the first GET, under a Content-Length for all of them,
    then the connection drops: what a flaky network does. `ignore_range`: answer every GET with the whole
    file (200), as servers without Range support do."""

    def __init__(self, root: Path, cut_once: set[str] = frozenset(), ignore_range: bool = False):
        self.root, self.cut_once, self.requests = Path(root), set(cut_once), []
        self.ignore_range = ignore_range
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
                if ranged and not server.ignore_range:
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


class FaultyProxy(LoopbackServer):
    """An HTTP proxy on 127.0.0.1 in front of `upstream` (e.g. a real `mlflow server`). The first request
    whose path contains `trigger` starts a fault of `fault_s` seconds: every other request is answered 503,
    the connection of the others dropped without a reply; neither reaches the upstream, so a retried call
    can never be applied twice. `refused` counts them."""

    def __init__(self, upstream: str, trigger: str, fault_s: float):
        self.upstream = upstream.removeprefix("http://").rstrip("/")
        self.trigger, self.fault_s = trigger, fault_s
        self.fault_until, self.refused = None, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                import http.client

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.fault_until is None and proxy.trigger in self.path:
                    proxy.fault_until = time.monotonic() + proxy.fault_s
                if proxy.fault_until is not None and time.monotonic() < proxy.fault_until:
                    proxy.refused += 1
                    if proxy.refused % 2:
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self.close_connection = True
                    return
                host, port = proxy.upstream.split(":")
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    def start_fault(self) -> None:
        self.fault_until = time.monotonic() + self.fault_s

