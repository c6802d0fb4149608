"""The derived architecture as a small JSON document, and the standalone network it describes.

    {"format": "jdnas-architecture/1", "op_set": 8, "input_shape": [1, 32, 32], "num_classes": 10,
     "width_mult": 0.35, "macro": {...channels, strides...},
     "stages": [{"depth": 2, "ops": ["MB-k3-e6", "MB-k5-e3"], "widths": [40, 24]}, ...],
     ...search metadata: beta_mode, target_latency_ms, predicted_latency_ms, predicted_macs, lut}

`SearchedNet(arch)` rebuilds exactly the blocks the latency table timed (macro.make_block), so its FLOPs
equal the table's prediction and it trains with the shared loop as `joint_mode="searched"`.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..models.factory import register_searched
from ..models.joint import JointOutput
from .macro import Decoder, Head, Macro, build_stem, joint_or_logits, make_block
from .ops import BY_NAME, NOMINAL_INDEX, OP_SETS, OPS, WIDTH_STEPS, op_set, width_choices

FORMAT = "jdnas-architecture/1"


def arch_code(arch: Mapping) -> str:
    """Compact op/depth code: per stage the Table 9 index of each kept block's op, e.g. '03|215|...'."""
    index = {op.name: str(i) for i, op in enumerate(OPS)}
    return "|".join("".join(index[name] for name in stage["ops"]) for stage in arch["stages"])


def make_architecture(macro: Macro, op_set_size: int, ops: list[list[str]], widths: list[list[int]]) -> dict:
    stages = [dict(depth=len(o), ops=list(o), widths=[int(w) for w in ws]) for o, ws in zip(ops, widths)]
    arch = dict(format=FORMAT, op_set=op_set_size, input_shape=list(macro.input_shape), num_classes=macro.num_classes,
                width_mult=macro.width_mult, macro=macro.as_dict(), stages=stages)
    validate(arch)
    return arch


def from_supernet(supernet, op_set_size: int) -> dict:
    """argmax alpha per block, derived depth per stage, the chosen ops' active widths."""
    chosen, depths, mixed = supernet.argmax_ops(), supernet.derived_depths(), supernet.mixed_ops()
    kept = [blocks[:depth] for blocks, depth in zip(supernet.block_ranges, depths)]
    ops = [[supernet.specs[chosen[b]].name for b in blocks] for blocks in kept]
    widths = [[mixed[b].width(chosen[b]) for b in blocks] for blocks in kept]
    return make_architecture(supernet.macro, op_set_size, ops, widths)


def validate(arch: Mapping) -> None:
    """Raise ValueError unless every op is in the op set, every depth fits and every width is a choice."""
    if arch.get("format") != FORMAT:
        raise ValueError(f"architecture format {arch.get('format')!r} is not {FORMAT!r}")
    macro = Macro.from_dict(arch["macro"])
    allowed = OP_SETS.get(arch["op_set"])
    if allowed is None:
        raise ValueError(f"architecture op_set {arch['op_set']!r} is not one of {sorted(OP_SETS)}")
    slots = macro.slots()
    if len(arch["stages"]) != len(slots):
        raise ValueError(f"architecture has {len(arch['stages'])} stages, the macro-architecture {len(slots)}")
    for s, (stage, stage_slots) in enumerate(zip(arch["stages"], slots)):
        if not 1 <= len(stage["ops"]) <= len(stage_slots) or len(stage["ops"]) != len(stage["widths"]) \
                or stage.get("depth", len(stage["ops"])) != len(stage["ops"]):
            raise ValueError(f"stage {s + 1}: depth {stage.get('depth')} with {len(stage['ops'])} ops and "
                             f"{len(stage['widths'])} widths; depth must be 1..{len(stage_slots)}")
        for slot, name, width in zip(stage_slots, stage["ops"], stage["widths"]):
            if name not in allowed:
                raise ValueError(f"stage {s + 1}: op {name!r} is not in the {arch['op_set']}-op set {list(allowed)}")
            if width not in width_choices(BY_NAME[name], slot.c_in):
                raise ValueError(f"stage {s + 1}: width {width} of {name} is not one of "
                                 f"{width_choices(BY_NAME[name], slot.c_in)}")


def load_architecture(value: Mapping | str | Path | None) -> dict | None:
    """An architecture dict, or the path of its JSON file; validated."""
    if value is None:
        return None
    arch = json.loads(Path(value).read_text()) if isinstance(value, (str, Path)) else dict(value)
    validate(arch)
    return arch


def save_architecture(arch: Mapping, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(arch, indent=1))
    return path


class SearchedNet(nn.Module):
    """The derived network: stems, the kept MBConvs per stage, the fixed decoder and head."""

    def __init__(self, arch: Mapping, dropout: float = 0.0):
        super().__init__()
        validate(arch)
        self.arch = dict(arch)
        self.macro = macro = Macro.from_dict(arch["macro"])
        self.skips = macro.skip_indices()
        self.stem = build_stem(macro)
        self.stages = nn.ModuleList(
            nn.Sequential(*[make_block(slot, BY_NAME[name], width)
                            for slot, name, width in zip(slots, stage["ops"], stage["widths"])])
            for slots, stage in zip(macro.slots(), arch["stages"]))
        self.decoder = Decoder(macro) if macro.decoder else None
        self.head = Head(macro, dropout)

    def check_input_size(self, size: int) -> None:
        if size != self.macro.size:
            raise ValueError(f"the searched architecture was derived for {self.macro.size}x{self.macro.size} "
                             f"inputs, got {size}; search again for this input size")

    def forward(self, x: torch.Tensor) -> JointOutput:
        y = self.stem(x)
        features = [y]
        for stage in self.stages:
            y = stage(y)
            features.append(y)
        return joint_or_logits(self.decoder, [features[i] for i in self.skips], x, self.head(y))


def reference_architectures(macro: Macro, count: int = 5) -> list[dict]:
    """Networks spanning the space, to calibrate the latency table's fixed parts in context: full depth with
    the smallest op at its narrowest, a middle op at nominal width, the largest op at its widest, then
    seeded random points (a seed the LUT benchmark does not use)."""
    picks = [(OPS[0], 0), (OPS[1], NOMINAL_INDEX), (OPS[-1], WIDTH_STEPS - 1)]
    archs = []
    for op, index in picks[:count]:
        ops = [[op.name] * len(slots) for slots in macro.slots()]
        widths = [[width_choices(op, s.c_in)[index] for s in slots] for slots in macro.slots()]
        archs.append(make_architecture(macro, 8, ops, widths))
    rng = random.Random(12345)
    archs += [random_architecture(macro, 8, rng) for _ in range(count - len(archs))]
    return archs


def random_architecture(macro: Macro, op_set_size: int, rng: random.Random, full_depth: bool = False) -> dict:
    """A uniformly random point of the space (op, width and, unless full_depth, depth per stage)."""
    ops_allowed = op_set(op_set_size)
    ops, widths = [], []
    for slots in macro.slots():
        depth = len(slots) if full_depth else rng.randint(1, len(slots))
        chosen = [rng.choice(ops_allowed) for _ in range(depth)]
        ops.append([op.name for op in chosen])
        widths.append([rng.choice(width_choices(op, slot.c_in)) for op, slot in zip(chosen, slots)])
    return make_architecture(macro, op_set_size, ops, widths)


def searched_task(arch: Mapping) -> str:
    """The loop's task for a derived architecture: joint with a decoder, classifier without."""
    return Macro.from_dict(arch["macro"]).task


def model_label(config: Mapping) -> str:
    """Run name of a search trial ('NAS learned-β 8 ops @0.5') or of a searched network ('searched(03|...)')."""
    if config.get("task") == "nas":
        target, ratio = config.get("target_latency_ms"), config.get("target_ratio")
        goal = f"{target:g} ms" if target else f"{ratio:.3g}x{config.get('target_reference') or 'UNet'}" if ratio \
            else f"@{config.get('target_fraction', 0.5):g}"
        kind = " classifier-only" if config.get("search_kind") == "classifier" else ""
        return f"NAS{kind} {config.get('beta_mode', 'removed')}-β {config.get('op_set', 8)} ops {goal}"
    arch = load_architecture(config.get("architecture"))
    return f"searched({arch_code(arch)})" if arch else "searched(?)"


def build_searched(config: Mapping) -> SearchedNet:
    """The model factory's network for joint_mode 'searched': config['architecture'] (dict or path)."""
    arch = load_architecture(config.get("architecture"))
    if arch is None:
        raise ValueError("joint_mode 'searched' needs `architecture`: the architecture.json a nas_search trial writes")
    return SearchedNet(arch, config.get("dropout") or 0.0)  # its input and classes are the architecture's


register_searched(build_searched, model_label)


def final_architecture(arch: dict) -> dict:
    """The architecture JSON in a trial's final result, so the Parquet row alone rebuilds the network
    (the report re-times it there, away from the trials' load)."""
    return dict(architecture_json=json.dumps(arch, separators=(",", ":")))
