"""Latency lookup table (LUT) of the search space on one device, its disk cache, and the expected latency.

One entry per (block position, op, width choice) the supernet can pick, each the latency of exactly the
MBConv the derived network will contain, timed alone with `measure_latency` (the same timer, batch,
threads and precision as the derived network's measured latency). The fixed parts (stems, head,
decoder, pooling, FC) enter as `base_ms`, measured *in context*: the end-to-end latency of a few
reference networks minus their block entries, so per-call overheads and cache effects of the real
network are not double counted (TF-NAS's `base` plays the same role). `benchmarks/lut_accuracy.py`
checks the result on random derived networks.

Cache: `<cache_dir>/<digest>/{key.json,table.json}` where the digest hashes the key: device type and
name, torch (and cuDNN) version, input shape, batch size, threads, precision and the search space's
shape. A changed key means a new table, built once per key under an fcntl lock, so concurrent trials on a
node wait for one build instead of each timing the same blocks. A table whose stored key differs from
the requested one (a copied file, an explicit `lut_path` from another machine) is refused, never used.

Expected latency (docs/paper.md §5.1): LAT = base + sum_s LAT_s with LAT_s = sum_j softmax(beta_s)_j
sum_{b<=j} LAT_b (or sum_b LAT_b without beta) and LAT_b = sum_i u_{b,i} LUT(b, i, width_{b,i});
differentiable in the op weights u (hence alpha) and in beta.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..measure.flops import count_cost
from ..measure.latency import device_name, interleaved, latency_timer, resolve_backend
from ..measure.ort_latency import ort_version
from .derive import SearchedNet, reference_architectures
from .macro import Decoder, Head, Macro, Slot, build_stem, make_block
from .ops import BY_NAME, OPS, WIDTH_STEPS, OpSpec, width_choices

FORMAT = "jdnas-lut/1"
REFERENCES = 24  # reference networks that calibrate the table in context (in_context_fit)
REFERENCE_TIME_FACTOR = 10  # references are few and carry the calibration: timed this much longer than entries


def default_cache_dir() -> Path:
    return Path(os.environ.get("JDNAS_LUT_CACHE", "~/.cache/jdnas/lut")).expanduser()


@dataclass(frozen=True)
class LatencyKey:
    """Everything a latency depends on; two tables are interchangeable only if their keys are equal."""
    device_type: str
    device_name: str
    torch_version: str  # or "onnxruntime X.Y" for a table timed by ONNX Runtime (here or on a probed device)
    input_shape: tuple[int, int, int]
    batch_size: int
    threads: int
    precision: str
    space: str          # digest of the macro-architecture, op list and width choices

    @classmethod
    def for_device(cls, macro: Macro, device: str | torch.device, batch_size: int, threads: int,
                   precision: str = "fp32", backend: str = "torch") -> "LatencyKey":
        device = torch.device(device)
        version = torch.__version__
        if device.type == "cuda" and torch.backends.cudnn.is_available():
            version += f"+cudnn{torch.backends.cudnn.version()}"
        if resolve_backend(backend, device, precision) == "onnxruntime":  # the runtime is part of the key
            version = f"onnxruntime {ort_version()}"
        return cls(device.type, device_name(device), version, tuple(macro.input_shape), batch_size, threads,
                   precision, space_digest(macro))

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def backend(self) -> str:
        return "onnxruntime" if self.torch_version.startswith("onnxruntime") else "torch"

    def describe(self) -> str:
        runtime = self.torch_version if self.backend == "onnxruntime" else f"torch {self.torch_version}"
        return (f"{self.device_name} ({self.device_type}), {runtime}, input "
                f"{'x'.join(map(str, self.input_shape))}, batch {self.batch_size}, {self.threads} thread(s), "
                f"{self.precision}")


def space_digest(macro: Macro) -> str:
    spec = dict(macro=macro.as_dict(), ops=[asdict(op) for op in OPS], width_steps=WIDTH_STEPS, version=FORMAT)
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class LatencyTable:
    key: dict
    entries: dict[str, dict[str, list[float]]]     # slot key -> op name -> ms per width choice
    widths: dict[str, dict[str, list[int]]]        # slot key -> op name -> mid channels per width choice
    macs: dict[str, dict[str, list[int]]]
    base_ms: float                                 # fixed parts in context (see module docstring)
    fixed_macs: int
    calibration: dict = field(default_factory=dict)

    def block_ms(self, slot: Slot, op: OpSpec, width_index: int) -> float:
        return self.entries[slot.key][op.name][width_index]

    def block_macs(self, slot: Slot, op: OpSpec, width_index: int) -> int:
        return self.macs[slot.key][op.name][width_index]

    def as_dict(self) -> dict:
        return dict(format=FORMAT, **asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "LatencyTable":
        if d.get("format") != FORMAT:
            raise ValueError(f"latency table format {d.get('format')!r} is not {FORMAT!r}; rebuild it")
        return cls(**{k: v for k, v in d.items() if k != "format"})

    def check_key(self, key: LatencyKey, source: str) -> None:
        """Refuse a table measured under another key (device, torch, input, batch, threads, space)."""
        wanted = key.as_dict()
        diffs = [f"{k}: table has {self.key.get(k)!r}, this search needs {v!r}"
                 for k, v in wanted.items() if self.key.get(k) != v]
        if diffs:
            raise ValueError(f"latency table {source} was measured under another key and cannot be used here ("
                             + "; ".join(diffs) + "). Delete it or let the search build one on this device.")


# --- measuring ------------------------------------------------------------------------------------------
class _Replay(nn.Module):
    """Runs `module` on fixed inputs, so multi-input parts (the decoder) go through measure_latency."""

    def __init__(self, module: nn.Module, *inputs):
        super().__init__()
        self.module, self.inputs = module, inputs

    def forward(self, _):
        return self.module(*self.inputs)


def _progress(total: int, description: str) -> tqdm:
    return tqdm(total=total, desc=description, file=sys.stderr, mininterval=2.0, unit="entry")


def settled(times: list[float]) -> float:
    """One latency from a job's interleaved passes: the fastest pass. Load from other processes only ever
    adds time, so on a busy machine the fastest of several passes is the closest to what the device pays
    alone; on a quiet one it equals the median to within the noise (the probe uses the same rule)."""
    return min(times)


def interleaved_times(jobs: list[tuple[nn.Module, tuple]], timing: dict, rounds: int, bar=None,
                      durations: list[float] | None = None) -> list[list[float]]:
    """Latencies (ms) of each (module, input shape) in `rounds` interleaved passes (pass r times every job
    once): a burst of load from another process then spoils one pass of each job, not all passes of one.
    `durations`: seconds of timed forwards per job and pass (default timing['min_run_time'])."""
    durations = durations or [timing["min_run_time"]] * len(jobs)
    timers = [latency_timer(module, shape, **{**timing, "min_run_time": d}) for (module, shape), d in zip(jobs, durations)]
    return interleaved(timers, rounds, None if bar is None else lambda: bar.update(1))


def unique_slots(macro: Macro) -> dict[str, Slot]:
    """One slot per distinct block position key (blocks with equal shapes share table entries)."""
    unique: dict[str, Slot] = {}
    for stage in macro.slots():
        for slot in stage:
            unique.setdefault(slot.key, slot)
    return unique


def cost_table(macro: Macro, key: LatencyKey) -> LatencyTable:
    """The table without timings: width choices and MACs of every entry, MACs of the fixed parts."""
    entries, widths, macs = {}, {}, {}
    for slot_key, slot in unique_slots(macro).items():
        shape = (slot.c_in, slot.in_size, slot.in_size)
        for op in OPS:
            choices = width_choices(op, slot.c_in)
            widths.setdefault(slot_key, {})[op.name] = list(choices)
            macs.setdefault(slot_key, {})[op.name] = [count_cost(make_block(slot, op, mid), shape).macs
                                                     for mid in choices]
            entries.setdefault(slot_key, {})[op.name] = [0.0] * len(choices)
    table = LatencyTable(key.as_dict(), entries, widths, macs, base_ms=0.0, fixed_macs=0)
    arch = reference_architectures(macro, 1)[0]
    table.fixed_macs = count_cost(SearchedNet(arch), macro.input_shape).macs - blocks_macs(table, macro, arch)
    return table


def table_cells(macro: Macro) -> list[tuple[Slot, OpSpec, int, int]]:
    """(slot, op, width index, mid channels) of every table entry, in a fixed order."""
    return [(slot, op, i, mid) for slot in unique_slots(macro).values() for op in OPS
            for i, mid in enumerate(width_choices(op, slot.c_in))]


def timing_jobs(macro: Macro, device: torch.device, batch: int, references: int):
    """What a table build times, in order: the null module, every cell's block, the fixed parts alone and
    the reference networks; returns (cells, reference architectures, [(module, input shape)])."""
    torch.manual_seed(0)
    cells = table_cells(macro)
    blocks = [(make_block(slot, op, mid), (slot.c_in, slot.in_size, slot.in_size)) for slot, op, _, mid in cells]
    archs = reference_architectures(macro, references)
    nets = [(SearchedNet(arch), macro.input_shape) for arch in archs]
    return cells, archs, [(nn.Identity(), (1, 1, 1))] + blocks + _fixed_parts(macro, device, batch) + nets


def fill_table(table: LatencyTable, macro: Macro, cells, archs: list[dict], times: list[float], **info) -> LatencyTable:
    """Entries and base_ms from the times of `timing_jobs` (same order), measured here or on a device."""
    null_ms, times = times[0], times[1:]
    block_times, rest = times[:len(cells)], times[len(cells):]
    fixed_times, net_times = rest[:-len(archs)], rest[-len(archs):]
    for (slot, op, i, _), ms in zip(cells, block_times):
        table.entries[slot.key][op.name][i] = max(0.0, ms - null_ms)
    # in context: reference network = base + sum over its blocks of (scale x isolated entry + per_block)
    features = [(blocks_ms(table, macro, arch), kept_blocks(arch)) for arch in archs]
    base, scale, per_block = in_context_fit(features, net_times)
    for ops in table.entries.values():
        for name, values in ops.items():
            ops[name] = [max(0.0, scale * v + per_block) for v in values]
    table.base_ms = base
    table.calibration = dict(null_ms=null_ms, fixed_isolated_ms=sum(fixed_times) - len(fixed_times) * null_ms,
                             block_scale=scale, per_block_ms=per_block, reference_features=features,
                             reference_ms=net_times, reference_remainders_ms=[ms - blocks_ms(table, macro, arch)
                                                                              for arch, ms in zip(archs, net_times)],
                             built_at=time.strftime("%Y-%m-%d %H:%M:%S"), **info)
    return table


def kept_blocks(arch: dict) -> int:
    return sum(len(stage["ops"]) for stage in arch["stages"])


def in_context_fit(features: list[tuple[float, int]], network_ms: list[float]) -> tuple[float, float, float]:
    """(base, scale, per_block) of network_ms ~ base + scale x block_sum + per_block x blocks over the
    reference networks.

    A block timed alone is not the block inside a network (TF-NAS keeps only a constant `base`): its
    timing carries a per-run overhead the null module only partly cancels (a per-block term), and in a
    network weights and activations leave the caches and a runtime fuses across block boundaries (a
    scale). Three nested models - base only (TF-NAS), base + scale, base + scale + per-block - are each
    fitted by least squares after dropping outliers (> 3 MADs: a burst of load), and the one with the
    smallest leave-one-out error on the references is kept (a richer one only if it is >= 10 % better): on a
    noisy machine that is the simple one, where the references show the structure the richer one. A scale
    outside [0.5, 2] is not accepted. The base is held >= 0 (least squares under that bound: where the free
    fit's intercept is negative, the fit with base 0): stems, head and decoder cost time, and a negative
    intercept, an extrapolation of noise, would put the shallow end of the reachable range below its cost."""
    x = np.array([[1.0, s, n] for s, n in features])
    y = np.array(network_ms, dtype=float)
    candidates = [[0], [0, 1], [0, 1, 2]]

    def fit(columns, rows):
        if len(columns) == 1:  # base only: entries enter with scale 1
            return np.array([max(0.0, np.median(y[rows] - x[rows, 1])), 1.0, 0.0])
        coef = np.zeros(3)
        coef[columns] = np.linalg.lstsq(x[np.ix_(rows, columns)], y[rows], rcond=None)[0]
        if coef[0] < 0:  # the bound is active: the constrained optimum has base 0
            coef[:] = 0.0
            coef[columns[1:]] = np.linalg.lstsq(x[np.ix_(rows, columns[1:])], y[rows], rcond=None)[0]
        return coef

    def robust(columns, rows):
        keep = rows.copy()
        for _ in range(2):
            coef = fit(columns, keep)
            residual = y - x @ coef
            mad = np.median(np.abs(residual[keep] - np.median(residual[keep]))) or 1e-12
            keep = rows & (np.abs(residual - np.median(residual[keep])) <= 3 * 1.4826 * mad)
        return fit(columns, keep)

    everyone = np.ones(len(y), dtype=bool)
    best, best_error = robust([0], everyone), np.inf
    for columns in candidates:
        if len(y) < 3 * len(columns) or np.linalg.matrix_rank(x[:, columns]) < len(columns):
            continue
        loo = []
        for i in range(len(y)):
            rows = everyone.copy()
            rows[i] = False
            loo.append(abs(x[i] @ robust(columns, rows) - y[i]) / y[i])
        coef = robust(columns, everyone)
        if np.median(loo) < 0.9 * best_error and 0.5 <= coef[1] <= 2.0:  # a richer model must earn its terms
            best, best_error = coef, float(np.median(loo))
    return float(best[0]), float(best[1]), float(best[2])


def measure_table(macro: Macro, key: LatencyKey, device: str | torch.device, min_run_time: float = 0.01,
                  rounds: int = 3, references: int = REFERENCES) -> LatencyTable:
    """Time every block entry, then calibrate base_ms on `references` full reference networks."""
    device = torch.device(device)
    timing = dict(device=str(device), batch_size=key.batch_size, threads=key.threads, precision=key.precision,
                  min_run_time=min_run_time, backend=key.backend)
    cells, archs, jobs = timing_jobs(macro, device, key.batch_size, references)
    bar = _progress((len(jobs) + len(archs)) * rounds, f"latency table on {key.device_name}")
    # the references in the same passes as the blocks (same load), timed longer and in as many passes again
    # after them: they carry the calibration, and a loaded pass must not set it
    reference_time = min_run_time * REFERENCE_TIME_FACTOR
    durations = [min_run_time] * (len(jobs) - len(archs)) + [reference_time] * len(archs)
    passes = interleaved_times(jobs, timing, rounds, bar, durations)
    again = interleaved_times(jobs[-len(archs):], {**timing, "min_run_time": reference_time}, rounds, bar)
    times = [settled(t) for t in passes[:-len(archs)] + [a + b for a, b in zip(passes[-len(archs):], again)]]
    if bar is not None:
        bar.close()
    return fill_table(cost_table(macro, key), macro, cells, archs, times, rounds=rounds, min_run_time=min_run_time)


def _fixed_parts(macro: Macro, device: torch.device, batch: int) -> list[tuple[nn.Module, tuple]]:
    """Stems, head and decoder alone (recorded for comparison; base_ms uses the in-context value)."""
    points = macro.feature_points()
    skips = [torch.randn(batch, c, s, s, device=device) for i, (c, s) in enumerate(points) if i in macro.skip_indices()]
    last_c, last_s = points[-1]
    image = torch.randn(batch, *macro.input_shape, device=device)  # the decoder adds its output to the input
    return [(build_stem(macro), macro.input_shape), (Head(macro), (last_c, last_s, last_s))] + \
        ([(_Replay(Decoder(macro), skips, image), (1, 1, 1))] if macro.decoder else [])


# --- using ----------------------------------------------------------------------------------------------
def _kept(macro: Macro, arch: dict):
    """(slot, op spec, width index) of every block the architecture keeps."""
    for slots, stage in zip(macro.slots(), arch["stages"]):
        for slot, op_name, width in zip(slots, stage["ops"], stage["widths"]):
            op = BY_NAME[op_name]
            yield slot, op, width_choices(op, slot.c_in).index(width)


def blocks_ms(table: LatencyTable, macro: Macro, arch: dict) -> float:
    return sum(table.block_ms(slot, op, w) for slot, op, w in _kept(macro, arch))


def blocks_macs(table: LatencyTable, macro: Macro, arch: dict) -> int:
    return sum(table.block_macs(slot, op, w) for slot, op, w in _kept(macro, arch))


def predict_ms(table: LatencyTable, macro: Macro, arch: dict) -> float:
    """Predicted latency of a derived architecture: base + its blocks' entries."""
    return table.base_ms + blocks_ms(table, macro, arch)


def reanchor(table: LatencyTable, macro: Macro, timing: dict, references: int = 8, rounds: int = 3) -> float:
    """Scale a table to the process that uses it; returns the factor (measured / predicted, median over
    the first `references` reference networks, timed now as the build timed them).

    Eager PyTorch runs every network a few to ~10 % faster or slower in one interpreter (or phase of one)
    than in another (benchmarks/process_offset.py); a cached table carries its build's offset into every
    prediction. A few seconds of timing at the start of a search put it back on this process's scale."""
    archs = reference_architectures(macro, REFERENCES)[:references]
    run_time = timing["min_run_time"] * REFERENCE_TIME_FACTOR
    times = interleaved_times([(SearchedNet(a), macro.input_shape) for a in archs],
                              {**timing, "min_run_time": run_time}, rounds)
    factor = float(np.median([settled(t) / predict_ms(table, macro, a) for a, t in zip(archs, times)]))
    for ops in table.entries.values():
        for name, values in ops.items():
            ops[name] = [factor * v for v in values]
    table.base_ms *= factor
    table.calibration = {**table.calibration, "anchor_factor": factor}
    return factor


def predict_macs(table: LatencyTable, macro: Macro, arch: dict) -> int:
    return table.fixed_macs + blocks_macs(table, macro, arch)


def latency_matrix(table: LatencyTable, supernet) -> torch.Tensor:
    """LUT entries at the current widths: (blocks, ops), a constant for the expected latency."""
    rows = [[table.block_ms(m.slot, op, int(m.width_index[i])) for i, op in enumerate(m.specs)]
            for m in supernet.mixed_ops()]
    return torch.tensor(rows, dtype=torch.float32, device=supernet.log_alpha.device)


def expected_latency(table: LatencyTable, supernet, op_weights: torch.Tensor,
                     depth_probs: list[torch.Tensor | None], matrix: torch.Tensor | None = None) -> torch.Tensor:
    """LAT(alpha, beta) in ms; op_weights (blocks, ops) are Gumbel-softmax samples or softmax(alpha).
    `matrix`: latency_matrix() already built for the current widths (the search builds it once per epoch)."""
    block_lat = (op_weights * (latency_matrix(table, supernet) if matrix is None else matrix)).sum(-1)
    total = torch.tensor(table.base_ms, device=block_lat.device)
    for blocks, probs in zip(supernet.block_ranges, depth_probs):
        stage = block_lat[blocks.start:blocks.stop]
        total = total + (stage.sum() if probs is None else (probs * stage.cumsum(0)).sum())
    return total


def reachable_range(table: LatencyTable, macro: Macro, ops: tuple[OpSpec, ...], beta_mode: str) -> tuple[float, float]:
    """Smallest and largest latency a derived network can have: cheapest / dearest op and width in every
    block; with learned beta the smallest keeps one block per stage, otherwise every block is kept."""
    low = high = table.base_ms
    for slots in macro.slots():
        cheapest = [min(min(table.entries[s.key][op.name]) for op in ops) for s in slots]
        dearest = [max(max(table.entries[s.key][op.name]) for op in ops) for s in slots]
        low += cheapest[0] if beta_mode == "learned" else sum(cheapest)
        high += sum(dearest)
    return low, high


# --- cache ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[jdnas] waiting for another process to finish the latency table ({path.stem})", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def read_table(path: str | Path, key: LatencyKey) -> LatencyTable:
    """Load a table file and refuse it unless it was measured under `key`."""
    path = Path(path)
    table = LatencyTable.from_dict(json.loads(path.read_text()))
    table.check_key(key, str(path))
    return table


def cache_folder(key: LatencyKey, cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / key.digest


def store_table(table: LatencyTable, key: LatencyKey, cache_dir: str | Path | None = None) -> Path:
    """Write a table and its key file into the cache (atomically); returns the table file."""
    folder = cache_folder(key, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "key.json", key.as_dict())
    _write_json(folder / "table.json", table.as_dict())
    return folder / "table.json"


def load_or_build(macro: Macro, key: LatencyKey, device: str | torch.device, cache_dir: str | Path | None = None,
                  min_run_time: float = 0.01, rounds: int = 3, path: str | Path | None = None
                  ) -> tuple[LatencyTable, Path]:
    """The table for `key`: an explicit `path` (checked), the cached one, or a new measurement (cached).
    The lock makes concurrent trials on a node wait for one build instead of timing the same blocks."""
    if path is not None:
        return read_table(path, key), Path(path)
    folder = cache_folder(key, cache_dir)
    table_file, key_file = folder / "table.json", folder / "key.json"
    with _locked(folder.parent / f"{key.digest}.lock"):
        if table_file.exists():
            if not key_file.exists() or json.loads(key_file.read_text()) != key.as_dict():
                raise ValueError(f"latency cache {folder}: key.json does not match the requested key "
                                 f"({key.describe()}); delete {folder} to rebuild it")
            return read_table(table_file, key), table_file
        print(f"[jdnas] measuring the latency table for {key.describe()} into {folder}", flush=True)
        table = measure_table(macro, key, device, min_run_time, rounds)
        return table, store_table(table, key, cache_dir)
