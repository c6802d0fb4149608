"""The device probe's timings (trainables/export/probe.py) against a plain ONNX Runtime loop over the same
block files (tests/timing.plain_ort_ms: 1-thread sessions, ~1 ms blocks of session.run, the median block);
both sides in alternating rounds, the fastest round of each."""
import json
import statistics

import pytest

from orchestrator.cli.main import main
from trainables.export.probe import probe

from .timing import fastest_alternated, plain_ort_ms, within_band

pytestmark = pytest.mark.slow  # exports a bundle of ONNX files and times a spread of them several times


def test_probe_times_each_block_file_as_a_plain_onnxruntime_loop_does(tmp_path):
    bundle = tmp_path / "bundle"
    assert main(["lut", "bundle", str(bundle), "--size", "16", "--channels", "1", "--classes", "10",
                 "--width-mult", "0.1"]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    files = [e["file"] for e in manifest["files"] if e["kind"] == "block"][::4]  # every 4th block: a spread
    sample = tmp_path / "sample"  # a bundle of those files alone, so each probe round is short
    for name in files:
        (sample / name).parent.mkdir(parents=True, exist_ok=True)
        (sample / name).write_bytes((bundle / name).read_bytes())
    (sample / "manifest.json").write_text(json.dumps({**manifest, "files": [e for e in manifest["files"]
                                                                            if e["file"] in files]}))
    best = fastest_alternated(3, {
        "probe": lambda: probe(str(sample), "here", 1, rounds=1, min_run_time=0.02, progress=False)["times_ms"],
        "plain": lambda: {name: plain_ort_ms(bundle / name) for name in files}})
    ratios = [best["probe"][name] / best["plain"][name] for name in files]
    assert len(files) >= 5 and within_band(statistics.median(ratios), 1.0), ratios
    assert within_band(sum(best["probe"].values()), sum(best["plain"].values())), best
