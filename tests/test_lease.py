"""The driver lease through the storage's own filesystem: a local folder and a real S3-compatible endpoint
(moto in server mode) alike. Holders elsewhere are written as the JSON a driver on another host writes."""
import json
import os
import time

import pytest

from orchestrator.exits import BadInput
from orchestrator.records.storage import resolve_storage
from orchestrator.run.lease import STALE_S, DriverLease, lease_name

from .servers import AWS_ENV, moto_s3


def holder(host, pid, heartbeat):
    return json.dumps({"host": host, "pid": pid, "since": 1_700_000_000, "heartbeat": heartbeat, "token": "t"}).encode()


def check_lease(storage):
    first = DriverLease(storage, "exp").acquire()
    with pytest.raises(BadInput, match=rf"another driver: host {os.uname().nodename}, pid {os.getpid()}, since "):
        DriverLease(storage, "exp").acquire()
    first.release()
    assert not storage.exists(lease_name("exp"))
    DriverLease(storage, "exp").acquire().release()  # free again once released

    storage.write_bytes(holder("node-7", 4242, time.time()), lease_name("exp"))  # alive on another host
    with pytest.raises(BadInput, match="host node-7, pid 4242, since .* or delete .*exp.driver-lease.json"):
        DriverLease(storage, "exp").acquire()
    storage.write_bytes(holder("node-7", 4242, time.time() - STALE_S - 5), lease_name("exp"))  # its heartbeat stopped
    taken = DriverLease(storage, "exp").acquire()
    assert json.loads(storage.read_bytes(lease_name("exp")))["token"] == taken.token
    taken.release()


def test_a_lease_in_a_local_folder(tmp_path):
    check_lease(resolve_storage(tmp_path / "results"))


def test_a_dead_driver_of_this_host_is_taken_over_at_once(tmp_path):
    storage = resolve_storage(tmp_path / "results")
    storage.write_bytes(holder(os.uname().nodename, 2 ** 22 + 12345, time.time()), lease_name("exp"))  # no such pid
    DriverLease(storage, "exp").acquire().release()


@pytest.mark.slow
def test_a_lease_on_s3(monkeypatch):
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    with moto_s3("leases") as (endpoint, _):
        check_lease(resolve_storage("s3://leases/jdnas", endpoint))
