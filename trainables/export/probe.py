#!/usr/bin/env python3
"""Time a jdnas latency-table bundle on the device that will run the models; writes a JSON table.

Self-contained on purpose: Python >= 3.9, numpy and onnxruntime only (no jdnas, no torch), so it runs on
a Raspberry Pi, a Jetson or any board with an onnxruntime wheel. Copy the bundle folder to the device and:

    python3 probe.py BUNDLE_DIR --device-name my-pi4 [--threads 1] [--rounds 5] [--out table.json]

Every ONNX file of the manifest is timed in interleaved rounds (round r times every file once, so a burst
of background load spoils one round of each file, not one file), each time as blocks of consecutive runs
for --min-run-time seconds (the reference networks longer, as the manifest says); the table holds the
fastest round of each file's median per-run time (load from other processes only ever adds time).
Then, on the machine with jdnas: `jdnas lut import BUNDLE_DIR table.json`.
"""
import argparse
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np
import onnxruntime

FORMAT = "jdnas-lut-probe/1"


def time_session(run, min_run_time, warmup=10):
    """(median, IQR) in seconds per call of `run()`: warm-up, then blocks of calls (each >= ~1 ms) for
    `min_run_time` seconds, the statistics taken over the blocks' per-call means."""
    for _ in range(warmup):
        run()
    t0 = time.perf_counter()
    run()
    single = max(time.perf_counter() - t0, 1e-6)
    per_block = max(1, int(1e-3 / single))
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < min_run_time or len(samples) < 3:
        t0 = time.perf_counter()
        for _ in range(per_block):
            run()
        samples.append((time.perf_counter() - t0) / per_block)
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return float(median), float(q3 - q1)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(name, threads):
    uname = platform.uname()
    return dict(name=name, cpu=cpu_model(), machine=uname.machine, system=f"{uname.system} {uname.release}",
                node=uname.node, cpu_count=os.cpu_count(), threads=threads, python=platform.python_version(),
                numpy=np.__version__, onnxruntime=onnxruntime.__version__,
                providers=onnxruntime.get_available_providers())


def cpu_session(model, threads):
    """A CPU session (`model`: a path or serialised bytes) with `threads` intra-op threads, sequential
    execution and full graph optimisation: the settings of every ONNX Runtime timing in jdnas."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def make_session(path, threads):
    session = cpu_session(path, threads)
    rng = np.random.default_rng(0)
    feed = {i.name: rng.standard_normal([int(d) for d in i.shape], dtype=np.float32) for i in session.get_inputs()}
    return lambda: session.run(None, feed)


def manifest_digest(manifest_bytes):
    return hashlib.sha256(manifest_bytes).hexdigest()


def probe(bundle, device_name, threads, rounds, min_run_time, progress=True):
    manifest_bytes = open(os.path.join(bundle, "manifest.json"), "rb").read()
    manifest = json.loads(manifest_bytes)
    files = [entry["file"] for entry in manifest["files"]]
    runners = [make_session(os.path.join(bundle, name), threads) for name in files]
    # the reference networks carry the table's calibration: timed longer, as the manifest says
    durations = [min_run_time * (manifest.get("reference_time_factor", 1) if e["kind"] == "reference" else 1)
                 for e in manifest["files"]]
    samples = [[] for _ in files]
    started = time.time()
    for r in range(rounds):
        for i, run in enumerate(runners):
            samples[i].append(time_session(run, durations[i])[0] * 1e3)
        if progress:
            print(f"round {r + 1}/{rounds} done ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
    return dict(format=FORMAT, manifest_sha256=manifest_digest(manifest_bytes), bundle_format=manifest["format"],
                device=device_description(device_name, threads), rounds=rounds, min_run_time=min_run_time,
                measured_at=time.strftime("%Y-%m-%d %H:%M:%S"),
                times_ms={name: float(np.min(s)) for name, s in zip(files, samples)})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="the folder `jdnas lut bundle` wrote (manifest.json + ONNX files)")
    parser.add_argument("--device-name", default=platform.node() or "device",
                        help="name the table is cached under and NAS sweeps select with --set lut_device=NAME")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the bundle's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-run-time", type=float, default=0.02, help="seconds per file and round")
    parser.add_argument("--out", default=None, help="output JSON (default BUNDLE/probe-DEVICE.json)")
    args = parser.parse_args(argv)
    manifest = json.load(open(os.path.join(args.bundle, "manifest.json")))
    threads = args.threads or manifest.get("threads", 1)
    result = probe(args.bundle, args.device_name, threads, args.rounds, args.min_run_time)
    out = args.out or os.path.join(args.bundle, f"probe-{args.device_name}.json")
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1)
    print(f"{len(result['times_ms'])} entries timed on {args.device_name} ({result['device']['cpu']}); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
