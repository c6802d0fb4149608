"""Every report layout read cell by cell from hand-made rows: each column carries a distinct value, most
networks have two seeds (so "mean ± std" shows), and every expected cell below was worked out by hand (sample
std of two values a, b is |a - b| / sqrt(2)). A column filled from the wrong metric, a constant, or a
swapped sigma shows here as a wrong cell."""
import math

import pytest

from orchestrator.report.nas import nas_table
from orchestrator.report.tables import generic_table, joint_table, table7, tuning_table, unet_table

COMMON = dict(status="TERMINATED", dataset="synthetic", image_shape="1x32x32", latency_device="Test CPU",
              latency_batch_size=1, latency_threads=1, latency_precision="fp32", latency_backend="onnxruntime")


def row(trial_id, **fields):
    return {**COMMON, "trial_id": trial_id, "label": trial_id, **fields}


def read_table(markdown: str, first_header: str) -> tuple[list[str], list[list[str]]]:
    """(header, body rows) of the markdown table whose header starts with `first_header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    cells = [[c.strip() for c in line.strip()[1:-1].split("|")] for line in lines[start:] if line.startswith("|")]
    end = next((i for i, line in enumerate(lines[start:]) if not line.startswith("|")), len(lines) - start)
    cells = cells[:end]
    return cells[0], [r for r in cells[2:]]


def by_column(header: list[str], body: list[list[str]]) -> list[dict]:
    """Rows as {header: cell}; a repeated header gets its position appended (`ratio`, `ratio#7`)."""
    keys = [h if header.index(h) == i else f"{h}#{i}" for i, h in enumerate(header)]
    assert all(len(r) == len(keys) for r in body), (header, body)
    return [dict(zip(keys, r)) for r in body]


def column(header: list[str], prefix: str) -> str:
    """The one header that starts with `prefix` (headers carry the run's setting, e.g. '(ours: ...)')."""
    found = [h for h in header if h.startswith(prefix)]
    assert len(found) == 1, (prefix, header)
    return found[0]


def test_joint_table_cell_by_cell():
    seq = dict(task="joint", joint_mode="sequential", sequential_training="two-stage", finetune_epochs=2,
               unet="UNet-S", classifier="MB1-S", variant_label="sequential(UNet-S, MB1-S) two-stage")
    rows = [row("s0", seed=0, **seq, macs=2.0e6, latency_ms=0.50, test_acc=60.0,
                **{"test_psnr_s0.2": 30.0, "test_psnr_s0.4": 27.0, "test_psnr_s0.8": 24.0, "test_psnr_s1": 21.0,
                   "test_ssim_s0.2": 0.95, "test_ssim_s0.4": 0.91, "test_ssim_s0.8": 0.80, "test_ssim_s1": 0.71}),
            row("s1", seed=1, **seq, macs=4.0e6, latency_ms=0.70, test_acc=64.0,
                **{"test_psnr_s0.2": 32.0, "test_psnr_s0.4": 28.0, "test_psnr_s0.8": 26.0, "test_psnr_s1": 22.0,
                   "test_ssim_s0.2": 0.96, "test_ssim_s0.4": 0.92, "test_ssim_s0.8": 0.84, "test_ssim_s1": 0.72}),
            row("i0", seed=0, task="joint", joint_mode="integrated", unet="UNet-M", classifier="MB2.5-M",
                variant_label="integrated(UNet-M, MB2.5-M)", macs=7.5e6, latency_ms=1.234, test_acc=71.3,
                **{"test_psnr_s0.2": 33.11, "test_psnr_s0.4": 29.22, "test_psnr_s0.8": 26.33, "test_psnr_s1": 23.44,
                   "test_ssim_s0.2": 0.9, "test_ssim_s0.4": 0.88, "test_ssim_s0.8": 0.777, "test_ssim_s1": 0.6}),
            row("e0", seed=0, task="joint", joint_mode="sequential", unet="UNet-S", classifier="Conv-S",
                variant_label="sequential(UNet-S, Conv-S)", macs=1.25e6, latency_ms=0.081, test_acc=55.5,
                **{"test_psnr_s0.2": 28.01, "test_psnr_s0.4": 25.02, "test_psnr_s0.8": 22.03, "test_psnr_s1": 19.04,
                   "test_ssim_s0.8": 0.654})]
    header, body = read_table(joint_table(rows), "mode (training)")
    cols = [header[0], "denoiser", "classifier", column(header, "MACs (M"), column(header, "Lat. ms"),
            column(header, "Acc %"), "PSNR σ=0.2", "PSNR σ=0.4", "PSNR σ=0.8", "PSNR σ=1", "SSIM σ=0.8", "seeds"]
    got = [[r[c] for c in cols] for r in by_column(header, body)]
    assert got == [
        ["sequential (two-stage, +2 joint epochs)", "UNet-S", "MB1-S", "3.00", "0.600 ± 0.141", "62.0 ± 2.8",
         "31.00 ± 1.41", "27.50 ± 0.71", "25.00 ± 1.41", "21.50 ± 0.71", "0.820 ± 0.028", "2"],
        ["integrated", "UNet-M", "MB2.5-M", "7.50", "1.234", "71.3", "33.11", "29.22", "26.33", "23.44", "0.777", "1"],
        ["sequential (end-to-end)", "UNet-S", "Conv-S", "1.25", "0.081", "55.5", "28.01", "25.02", "22.03", "19.04",
         "0.654", "1"]]
    macs96 = [float(r["MACs 3x96x96 (M)"]) for r in by_column(header, body)]
    # a count of the model at the paper's input (not a run column): the UNet-M model is the biggest
    assert min(macs96) > 0 and macs96[1] == max(macs96) and not {f"{m:.2f}" for m in macs96} & {"3.00", "7.50", "1.25"}


def test_unet_study_and_table8_cell_by_cell():
    custom = dict(task="denoiser", depth=3, base_width=12, blocks=1, multiplier=1.5, block="conv",
                  variant_label="d3 b12 c1 m1.5")
    rows = [row("c0", seed=0, **custom, macs=1e6, params=1000, latency_ms=0.25,
                **{"test_psnr_s0.2": 29.0, "test_psnr_s0.4": 26.0, "test_psnr_s0.8": 23.0, "test_psnr_s1": 20.0,
                   "test_ssim_s0.8": 0.70}),
            row("c1", seed=1, **custom, macs=3e6, params=1600, latency_ms=0.35,
                **{"test_psnr_s0.2": 30.0, "test_psnr_s0.4": 28.0, "test_psnr_s0.8": 23.5, "test_psnr_s1": 21.0,
                   "test_ssim_s0.8": 0.74}),
            row("m0", seed=0, task="denoiser", depth=4, base_width=16, blocks=2, multiplier=2, variant_label="b16",
                macs=8.5e6, params=7777, latency_ms=0.999, **{"test_psnr_s0.2": 34.4, "test_psnr_s0.4": 30.3,
                                                             "test_psnr_s0.8": 27.7, "test_psnr_s1": 24.4,
                                                             "test_ssim_s0.8": 0.812}),
            row("u0", seed=0, task="denoiser", unet="UNet-S", variant_label="UNet-S", macs=5.5e6, params=2222,
                latency_ms=0.444, **{"test_psnr_s0.2": 31.5, "test_psnr_s0.4": 28.5, "test_psnr_s0.8": 25.5,
                                     "test_psnr_s1": 22.5, "test_ssim_s0.2": 0.91, "test_ssim_s0.4": 0.87,
                                     "test_ssim_s0.8": 0.79, "test_ssim_s1": 0.66})]
    text = unet_table(rows, "UNet study: test")
    header, body = read_table(text, "UNet")
    cols = ["UNet", "d", "b", "c", "m", "block", column(header, "MACs (M"), "params", column(header, "Lat. ms"),
            *[column(header, f"PSNR σ={s}") for s in ("0.2", "0.4", "0.8", "1")], "SSIM σ=0.8", "seeds"]
    assert [[r[c] for c in cols] for r in by_column(header, body)] == [
        ["d3 b12 c1 m1.5", "3", "12", "1", "1.5", "conv", "2.00", "1300 ± 424", "0.300 ± 0.071",
         "29.50 ± 0.71", "27.00 ± 1.41", "23.25 ± 0.35", "20.50 ± 0.71", "0.720 ± 0.028", "2"],
        ["b16 (= UNet-M)", "4", "16", "2", "2", "conv", "8.50", "7777", "0.999", "34.40", "30.30", "27.70", "24.40",
         "0.812", "1"],
        ["UNet-S", "", "", "", "", "conv", "5.50", "2222", "0.444", "31.50", "28.50", "25.50", "22.50", "0.790", "1"]]
    # Table 8 below it: only the row that builds a paper UNet, PSNR / SSIM per sigma, the paper's FLOPs and latency
    header8, body8 = read_table(text, "Model")
    (unet_s,) = by_column(header8, body8)
    assert [unet_s[c] for c in ("Model", column(header8, "FLOPs (M"), column(header8, "Lat. ms (ours"),
                                column(header8, "Lat. ms (paper"))] == ["UNet-S", "51.2", "0.444", "2.38"]
    assert [unet_s[column(header8, f"PSNR / SSIM σ={s}")] for s in ("0.2", "0.4", "0.8", "1")] == \
        ["31.50 / 0.910", "28.50 / 0.870", "25.50 / 0.790", "22.50 / 0.660"]


def test_table7_latency_macs_and_accuracy_cells():
    rows = [row("l0", seed=0, task="classifier", classifier="Conv-L", variant_label="Conv-L", macs=10e6,
                latency_ms=0.3, test_acc=60.0),
            row("l1", seed=1, task="classifier", classifier="Conv-L", variant_label="Conv-L", macs=12e6,
                latency_ms=0.5, test_acc=70.0),
            row("s0", seed=0, task="classifier", classifier="Conv-S", variant_label="Conv-S", macs=5.5e6,
                latency_ms=0.123, test_acc=51.7)]
    header, body = read_table(table7(rows), "Exp.")
    got = {r["Model"]: r for r in by_column(header, body)}
    lat, acc, macs = column(header, "Lat. ms (ours"), column(header, "Acc % (ours"), column(header, "MACs (M, ours")
    assert [got["Conv-L"][c] for c in (macs, "ratio", lat, column(header, "Lat. ms (paper"), acc, "seeds")] == \
        ["11.00", "1.000", "0.400 ± 0.141", "0.336", "65.0 ± 7.1", "2"]
    assert [got["Conv-S"][c] for c in (macs, "ratio", lat, column(header, "Lat. ms (paper"), acc, "seeds")] == \
        ["5.50", "0.500", "0.123", "0.281", "51.7", "1"]


def test_tuning_rows_and_pareto_marks_by_hand():
    # (val_acc, val_psnr): c (80, 22) is dominated by b (85, 25); e (60, 10) by every other; a, b, d are the front
    points = dict(a=(1e-3, 1e-4, 0.5, 90.0, 20.0, 88.0, 19.5), b=(2e-3, 2e-4, 0.25, 85.0, 25.0, 84.0, 24.5),
                  c=(3e-3, 3e-4, 0.125, 80.0, 22.0, 79.0, 21.5), d=(4e-3, 4e-4, 1.5, 70.0, 30.0, 69.0, 29.5),
                  e=(5e-3, 5e-4, 2.0, 60.0, 10.0, 59.0, 9.5))
    rows = [row(t, lr=lr, weight_decay=wd, loss_weight=w, val_acc=va, test_acc=ta,
                **{"val_psnr_s0.8": vp, "test_psnr_s0.8": tp}) for t, (lr, wd, w, va, vp, ta, tp) in
            reversed(points.items())]
    text = tuning_table(rows)
    assert "3 Pareto-optimal of 5 trials" in text
    header, body = read_table(text, "Pareto")
    assert header == ["Pareto", "trial", "lr", "weight decay", "w", "val_acc", "val_psnr_s0.8", "test_acc",
                      "test_psnr_s0.8"]
    assert body == [["*", "a", "1.00e-03", "1.00e-04", "0.5", "90.00", "20.00", "88.00", "19.50"],
                    ["*", "b", "2.00e-03", "2.00e-04", "0.25", "85.00", "25.00", "84.00", "24.50"],
                    ["", "c", "3.00e-03", "3.00e-04", "0.125", "80.00", "22.00", "79.00", "21.50"],
                    ["*", "d", "4.00e-03", "4.00e-04", "1.5", "70.00", "30.00", "69.00", "29.50"],
                    ["", "e", "5.00e-03", "5.00e-04", "2", "60.00", "10.00", "59.00", "9.50"]]


def test_generic_table_cell_by_cell():
    rows = [row("g0", seed=0, variant_label="g", val_loss=0.5, test_acc=40.0, test_psnr=20.0, macs=1000, latency_ms=0.11),
            row("g1", seed=1, variant_label="g", val_loss=0.9, test_acc=50.0, test_psnr=21.0, macs=3000, latency_ms=0.13),
            row("h0", seed=0, variant_label="h", val_loss=0.25, test_acc=77.7, test_psnr=19.99, macs=4321,
                latency_ms=2.5)]
    header, body = read_table(generic_table(rows, "val_loss"), "trial")
    assert header == ["trial", "val_loss", "test_acc", "test_psnr", "MACs", "Lat. ms", "seeds"]
    assert body == [["g", "0.700 ± 0.283", "45.0 ± 7.1", "20.50 ± 0.71", "2000 ± 1414", "0.120 ± 0.014", "2"],
                    ["h", "0.250", "77.7", "19.99", "4321", "2.500", "1"]]


def test_nas_table_cell_by_cell_with_the_papers_numbers_only_beside_its_setting():
    paper_setting = dict(search_kind="classifier", image_shape="3x96x96", beta_mode="removed", op_set=8, target_ratio=6.0 / 7.10, target_reference="UNet",
                         train_noise_levels=[0.0], seed=0)
    rows = [row("n0", task="nas", arch="01-23", depths="2-3", **paper_setting, target_latency_ms=1.5,
                target_vs_reference=0.845, predicted_latency_ms=2.2, latency_ms=2.0, reference_latency_ms=4.0,
                test_acc_s0=80.4, test_acc=70.6, **{"test_psnr_s0.8": 24.68}),
            row("n1", task="nas", arch="45-67", depths="1-1", beta_mode="learned", op_set=4, target_ratio=6.0 / 7.10,
                target_reference="UNet", train_noise_levels=[0.0], seed=1, target_latency_ms=2.5,
                target_vs_reference=0.5, predicted_latency_ms=3.3, latency_ms=3.0, reference_latency_ms=5.0,
                test_acc_s0=66.6, test_acc=55.4, **{"test_psnr_s0.8": 21.09})]
    text = nas_table(rows)
    header, body = read_table(text, "Type")
    got = by_column(header, body)
    cols = ["Type", "Search id", "ops", "target ms", "target × ref.", "LUT ms", column(header, "LAT ms (ours"),
            "LAT × ref.", column(header, "Acc % σ=0 (ours"), "Acc % (mean σ)", "PSNR σ=0.8", "depths",
            column(header, "LAT ms (paper"), column(header, "Acc % σ=0 (paper"), column(header, "paper LAT ÷ its UNet"),
            "search"]
    assert [got[0][c] for c in cols] == [
        "Removed β", "1", "8", "1.500", "0.845 × UNet", "2.200", "2.000", "0.500", "80.4", "70.6", "24.68", "2-3",
        "5.85", "86.2", f"{5.85 / 7.10:.3f}", "classifier only"]
    assert [got[1][c] for c in cols] == [
        "Learned β", "2", "4", "2.500", "0.500 × UNet", "3.300", "3.000", "0.600", "66.6", "55.4", "21.09", "1-1",
        "-", "-", "-", "joint"]
    assert got[1]["paper counterpart"].startswith("none: 4 ops (paper: 8)")
    assert got[0]["paper counterpart"] == "same setting"
    assert "median error 10.0%" in text  # |2.2 - 2| / 2 and |3.3 - 3| / 3
    assert math.isclose(5.85 / 7.10, 0.824, abs_tol=5e-4)


@pytest.mark.parametrize("builder", ["joint", "generic"])
def test_a_single_seed_shows_no_spread_and_two_equal_seeds_none_either(builder):
    """Two seeds with equal values: std 0 prints the mean alone (fmt's rule), not '± 0.00'."""
    same = [row(f"t{i}", seed=i, variant_label="v", task="joint", joint_mode="integrated", unet="UNet-S",
                classifier="MB2.5-M", test_acc=42.0, test_psnr=20.0, macs=2e6, latency_ms=0.5) for i in range(2)]
    text = joint_table(same) if builder == "joint" else generic_table(same, "test_acc")
    assert "± 0.0" not in text and "42.0" in text


def test_table7_states_the_accuracy_order_against_the_papers_with_kendall_tau():
    """Paper: Conv-L 63.2 > MB1-S 56.2 > Conv-S 55.4. Ours: MB1-S 70 > Conv-L 65 (mean of 60, 70) > Conv-S 51.7.
    Of the 3 pairs, (Conv-L, MB1-S) is reversed and the other two agree: tau = (2 - 1) / 3 = +0.33."""
    rows = [row("l0", seed=0, task="classifier", classifier="Conv-L", variant_label="Conv-L", macs=10e6, test_acc=60.0),
            row("l1", seed=1, task="classifier", classifier="Conv-L", variant_label="Conv-L", macs=12e6, test_acc=70.0),
            row("m0", seed=0, task="classifier", classifier="MB1-S", variant_label="MB1-S", macs=4e6, test_acc=70.0),
            row("s0", seed=0, task="classifier", classifier="Conv-S", variant_label="Conv-S", macs=5.5e6, test_acc=51.7)]
    assert "Kendall tau-b = +0.33 over 3 models" in table7(rows)
    assert "Kendall" not in table7(rows[:2])  # one model: no order to compare
