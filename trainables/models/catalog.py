"""The paper's named models as configs, with our FLOP counts beside the paper's (`jdnas models`)."""
from __future__ import annotations

from ..measure.flops import count_cost
from ..paper import TABLE7, paper_macs
from .classifier import CLASSIFIER_PRESETS
from .factory import build_model
from .unet import UNET_PRESETS

PAPER_INPUT = (3, 96, 96)


def paper_model_configs() -> dict[str, dict]:
    """Name -> trial config for every model the paper names (Table 7, Table 8, UNet-M, joint models)."""
    configs = {name: dict(task="classifier", classifier=name) for name in CLASSIFIER_PRESETS}
    configs.update({name: dict(task="denoiser", unet=name) for name in UNET_PRESETS})
    for mode in ("sequential", "integrated"):
        for unet in UNET_PRESETS:
            configs[f"{mode}({unet}, MB2.5-M)"] = dict(task="joint", joint_mode=mode, unet=unet, classifier="MB2.5-M")
    return configs


def flop_table(input_shape: tuple[int, int, int] = PAPER_INPUT, num_classes: int = 10) -> list[dict]:
    """One row per paper model: our MACs/FLOPs/params, the paper's MACs, and Table 7 ratios to Conv-L."""
    rows = []
    for name, config in paper_model_configs().items():
        cost = count_cost(build_model(config, input_shape[0], num_classes), input_shape)
        rows.append(dict(name=name, task=config["task"], macs=cost.macs, flops=cost.flops, params=cost.params,
                         paper_macs=paper_macs(name)))
    conv_l = next(r for r in rows if r["name"] == "Conv-L")
    for row in rows:
        if row["name"] in TABLE7:
            row["ratio_to_conv_l"] = round(row["macs"] / conv_l["macs"], 4)
            row["paper_ratio_to_conv_l"] = round(TABLE7[row["name"]][3] / TABLE7["Conv-L"][3], 4)
    return rows


def format_flop_table(rows: list[dict], input_shape: tuple[int, int, int] = PAPER_INPUT) -> str:
    lines = [f"FLOPs of the paper's models at {'x'.join(map(str, input_shape))} (MACs, the paper's 'FLOPs')",
             f"{'model':<34}{'MACs (M)':>10}{'params':>11}{'paper':>12}{'ours/paper':>12}  note"]
    for r in rows:
        if "ratio_to_conv_l" in r:
            paper = f"{r['paper_macs'] / 1e3:.0f} K"
            cmp, note = f"{r['ratio_to_conv_l'] / r['paper_ratio_to_conv_l']:.3f}", \
                f"ratio to Conv-L {r['ratio_to_conv_l']:.3f} vs paper {r['paper_ratio_to_conv_l']:.3f}"
        elif r["paper_macs"]:
            paper, cmp, note = f"{r['paper_macs'] / 1e6:.1f} M", f"{r['macs'] / r['paper_macs']:.3f}", "Table 8"
        else:
            paper, cmp, note = "-", "-", ""
        lines.append(f"{r['name']:<34}{r['macs'] / 1e6:>10.2f}{r['params']:>11,}{paper:>12}{cmp:>12}  {note}")
    lines.append("Table 7 absolute values follow an unrecoverable convention (docs/paper.md §9.3): compare its ratios.")
    return "\n".join(lines)
