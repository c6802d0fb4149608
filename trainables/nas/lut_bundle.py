"""A latency table measured on the target device: `jdnas lut bundle` writes, `jdnas lut import` reads.

The bundle is what a table build times (trainables.nas.lut.timing_jobs: a null graph, every candidate
block at every width, the fixed stem / head / decoder, the reference networks that calibrate the fixed
parts in context) as small fixed-shape ONNX files, a manifest and the self-contained probe script
(trainables/export/probe.py: numpy + onnxruntime only). The probe's JSON comes back and is checked against
the manifest (same bundle: its SHA-256; every file timed) before it becomes a LatencyTable, cached under
the device's key (device_type "remote", the probe's device name, "onnxruntime X" as runtime), where NAS
sweeps find it with `--set lut_device=NAME`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from ..export.onnx_model import to_onnx
from . import lut
from .derive import reference_architectures
from .macro import Macro
from .probe_schema import read_probe

BUNDLE_FORMAT = "jdnas-lut-bundle/1"
PROBE_FORMAT = "jdnas-lut-probe/1"
REMOTE = "remote"


def write_bundle(macro: Macro, out_dir: str | Path, batch_size: int = 1, threads: int = 1,
                 references: int = lut.REFERENCES) -> Path:
    """ONNX files of every timing job, manifest.json and probe.py in `out_dir`; returns the manifest path."""
    out = Path(out_dir)
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    cells, archs, jobs = lut.timing_jobs(macro, torch.device("cpu"), batch_size, references)
    kinds = ["null"] + ["block"] * len(cells) + ["fixed"] * (len(jobs) - 1 - len(cells) - len(archs)) \
        + ["reference"] * len(archs)
    files = []
    for index, ((module, shape), kind) in enumerate(zip(jobs, kinds)):
        graph = to_onnx(module, shape, dynamic_batch=False, inputs=(torch.zeros(batch_size, *shape),))
        name = f"onnx/{index:04d}_{kind}.onnx"
        (out / name).write_bytes(graph)
        files.append(dict(file=name, kind=kind, sha256=hashlib.sha256(graph).hexdigest()))
    for entry, (slot, op, i, mid) in zip(files[1:], cells):
        entry.update(slot=slot.key, op=op.name, width_index=i, mid_channels=mid)
    manifest = dict(format=BUNDLE_FORMAT, space=lut.space_digest(macro), macro=macro.as_dict(),
                    input_shape=list(macro.input_shape), batch_size=batch_size, threads=threads, precision="fp32",
                    references=references, reference_time_factor=lut.REFERENCE_TIME_FACTOR, files=files)
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    shutil.copyfile(Path(__file__).resolve().parent.parent / "export" / "probe.py", out / "probe.py")
    return path


def device_key(macro: Macro, device: str, runtime: str, batch_size: int, threads: int) -> lut.LatencyKey:
    return lut.LatencyKey(REMOTE, device, runtime, tuple(macro.input_shape), batch_size, threads, "fp32",
                          lut.space_digest(macro))


def table_from_probe(bundle_dir: str | Path, probe: dict) -> tuple[lut.LatencyTable, lut.LatencyKey]:
    """The LatencyTable of a probe result; ValueError (saying what differs) unless it timed this bundle."""
    bundle = Path(bundle_dir)
    manifest_bytes = (bundle / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    if probe.get("format") != PROBE_FORMAT:
        raise ValueError(f"not a jdnas probe table (format {probe.get('format')!r}, expected {PROBE_FORMAT!r})")
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    if probe.get("manifest_sha256") != digest:
        raise ValueError(f"the probe table does not match this bundle's manifest (table measured for manifest "
                         f"sha256 {str(probe.get('manifest_sha256'))[:12]}, {bundle}/manifest.json is {digest[:12]}): "
                         f"run the probe.py of this bundle on the device again")
    wanted = [e["file"] for e in manifest["files"]]
    missing = [f for f in wanted if not isinstance(probe.get("times_ms", {}).get(f), (int, float))]
    if missing:
        raise ValueError(f"the probe table lacks {len(missing)} of the manifest's {len(wanted)} entries "
                         f"(first: {missing[0]}); run the probe to the end")
    macro = Macro.from_dict(manifest["macro"])
    if lut.space_digest(macro) != manifest["space"]:
        raise ValueError("the bundle was written by another jdnas search space version; write a new bundle")
    device = probe["device"]
    key = device_key(macro, device["name"], f"onnxruntime {device['onnxruntime']}", manifest["batch_size"],
                     device["threads"])
    cells, archs = lut.table_cells(macro), _reference_archs(macro, manifest["references"])
    table = lut.fill_table(lut.cost_table(macro, key), macro, cells, archs, [probe["times_ms"][f] for f in wanted],
                           rounds=probe.get("rounds"), min_run_time=probe.get("min_run_time"), device=device,
                           measured_at=probe.get("measured_at"), manifest_sha256=digest)
    return table, key


def _reference_archs(macro: Macro, count: int) -> list[dict]:
    return reference_architectures(macro, count)


def import_probe(bundle_dir: str | Path, probe_file: str | Path, cache_dir: str | Path | None = None
                 ) -> tuple[lut.LatencyKey, Path]:
    """Check the probe JSON against the bundle, then cache it under its device's key."""
    if not (Path(bundle_dir) / "manifest.json").is_file():
        raise ValueError(f"{bundle_dir} holds no manifest.json: pass the folder `jdnas lut bundle` wrote")
    table, key = table_from_probe(bundle_dir, read_probe(probe_file))
    return key, lut.store_table(table, key, cache_dir)


def find_device_table(macro: Macro, device: str, batch_size: int, cache_dir: str | Path | None = None
                      ) -> tuple[lut.LatencyTable, lut.LatencyKey, Path]:
    """The newest imported table of `device` for this search space and batch; ValueError naming what is
    cached (and how to get a table) when there is none."""
    root = Path(cache_dir or lut.default_cache_dir())
    wanted = device_key(macro, device, "", batch_size, 0)
    found, seen = [], set()
    for key_file in root.glob("*/key.json"):
        stored = json.loads(key_file.read_text())
        if stored.get("device_type") != REMOTE:
            continue
        seen.add(stored.get("device_name"))
        key = lut.LatencyKey(**{**stored, "input_shape": tuple(stored["input_shape"])})
        if replace(key, torch_version="", threads=0) == wanted and (key_file.parent / "table.json").exists():
            found.append((key_file.stat().st_mtime, key, key_file.parent / "table.json"))
    if not found:
        raise ValueError(f"no imported latency table of device {device!r} for this search space "
                         f"(input {'x'.join(map(str, macro.input_shape))}, width_mult {macro.width_mult}, batch "
                         f"{batch_size}) in {root}; devices there: {sorted(seen) or 'none'}. Write one with "
                         f"`jdnas lut bundle`, run its probe.py on the device, then `jdnas lut import`")
    _, key, path = max(found, key=lambda item: item[0])
    return lut.read_table(path, key), key, path
