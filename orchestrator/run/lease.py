"""One driver per experiment: a lease file beside the Tune experiment in the sweep's storage (local, NFS or
S3, through the same pyarrow filesystem), refreshed by a heartbeat. A second `jdnas run` of the same
experiment is refused in one line naming the holder; a lease whose driver is gone is taken over: at once
when the holder was a process of this host that no longer exists, else once its heartbeat is older than
`STALE_S`. Deleting the lease file takes it over by hand.

Two drivers that start within the same instant on S3 (no create-if-absent there) are told apart by
re-reading the lease after writing it: the one whose token is not there backs off."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from orchestrator.exits import BadInput
from orchestrator.records.storage import Storage

HEARTBEAT_S = float(os.environ.get("JDNAS_LEASE_HEARTBEAT_S", 10))
STALE_S = 6 * HEARTBEAT_S


def lease_name(experiment: str) -> str:
    return f"{experiment}.driver-lease.json"  # a file, not a folder: `storage.folders()` lists experiments


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(holder: dict, now: float) -> bool:
    if holder.get("host") == socket.gethostname() and not process_alive(int(holder.get("pid", 0))):
        return True
    return now - float(holder.get("heartbeat", 0)) > STALE_S


@dataclass
class DriverLease:
    storage: Storage
    experiment: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    since: float = field(default_factory=time.time)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def path(self) -> str:
        return self.storage.join(lease_name(self.experiment))

    def read(self) -> dict | None:
        try:
            with self.storage.fs().open_input_stream(self.path) as f:
                return json.loads(f.readall())
        except (FileNotFoundError, OSError, ValueError):
            return None

    def _write(self) -> None:
        record = {"host": socket.gethostname(), "pid": os.getpid(), "since": self.since,
                  "heartbeat": time.time(), "token": self.token}
        self.storage.write_bytes(json.dumps(record).encode(), lease_name(self.experiment))

    def refusal(self, holder: dict) -> BadInput:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("since", 0))))
        age = time.time() - float(holder.get("heartbeat", 0))
        return BadInput(
            f"experiment {self.experiment} is being run by another driver: host {holder.get('host')}, pid "
            f"{holder.get('pid')}, since {since} (heartbeat {age:.0f} s ago); if that driver is gone its lease "
            f"is taken over once the heartbeat is {STALE_S:.0f} s old, or delete {self.storage.display(lease_name(self.experiment))}")

    def acquire(self) -> "DriverLease":
        self._new_root = not self.storage.exists()  # removed again if the run leaves nothing in it
        holder = self.read()
        if holder and holder.get("token") != self.token and not is_stale(holder, time.time()):
            raise self.refusal(holder)
        self._write()
        time.sleep(0.2)  # a driver that wrote in the same instant: the last writer holds it
        holder = self.read()
        if not holder or holder.get("token") != self.token:
            raise self.refusal(holder or {})
        threading.Thread(target=self._heartbeat, name="jdnas-lease", daemon=True).start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            holder = self.read()
            if holder and holder.get("token") != self.token:
                print(f"[jdnas] WARNING: the driver lease of {self.experiment} was taken over by host "
                      f"{holder.get('host')} pid {holder.get('pid')}", flush=True)
                return
            try:
                self._write()
            except OSError as err:  # storage hiccup: try again at the next beat
                print(f"[jdnas] could not refresh the driver lease ({err})", flush=True)

    def release(self) -> None:
        self._stop.set()
        holder = self.read()
        if holder and holder.get("token") == self.token:
            try:
                self.storage.fs().delete_file(self.path)
                if getattr(self, "_new_root", False) and not self.storage.is_remote and not os.listdir(self.storage.path):
                    os.rmdir(self.storage.path)  # the run was refused before it wrote anything there
            except OSError:
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

