"""Appendix A.2, Fig. 9: the UNet hyperparameter studies, one at a time as the paper explores them
(b, then d, then c, then m), with Conv blocks and again with MBConv blocks."""
from .base import Sweep

WIDTH = {"base_width": [4, 8, 16, 32, 64]}, {"depth": 4, "multiplier": 2.0, "blocks": 2}
DEPTH = {"depth": [2, 3, 4, 5], "base_width": [8, 16, 32]}, {"multiplier": 2.0, "blocks": 2}
BLOCKS = {"blocks": [1, 2], "base_width": [8, 16, 32, 64]}, {"depth": 4, "multiplier": 2.0}
MULTIPLIER = {"multiplier": [1.0, 1.5, 2.0]}, {"depth": 4, "base_width": 8, "blocks": 2}

# The quick preset trains the big UNets on fewer images so a study stays in minutes on a laptop.
QUICK_UNET = {"quick": dict(train_size=2000, val_size=500, test_size=1000, epochs=3, lr=2e-3)}


def _study(name: str, grid: dict, fixed: dict, what: str, block: str = "conv") -> Sweep:
    return Sweep(name=name, trainable="denoiser", description=what, grid=grid, fixed={**fixed, "block": block},
                 presets=QUICK_UNET, metric="val_psnr", table="unet")


UNET_WIDTH = _study("unet-width", *WIDTH, "Fig. 9a / Exp. 1: base width b in {4..64} (d4 m2 c2)")
UNET_DEPTH = _study("unet-depth", *DEPTH, "Fig. 9b / Exp. 2: depth d in {2..5} x b in {8,16,32} (m2 c2)")
UNET_BLOCKS = _study("unet-blocks", *BLOCKS, "Fig. 9c / Exp. 3: blocks c in {1,2} x b in {8..64} (d4 m2)")
UNET_MULTIPLIER = _study("unet-multiplier", *MULTIPLIER, "Fig. 9d / Exp. 4: multiplier m in {1,1.5,2} (d4 b8 c2)")

# "The UNet hyper-parameter experiments are replicated using MBConvs": the union of all four studies.
UNET_MBCONV = Sweep(
    name="unet-mbconv",
    trainable="denoiser",
    description="A.2: the b, d, c and m studies again with MBConv blocks",
    grid=tuple({**grid, **{k: [v] for k, v in fixed.items()}} for grid, fixed in (WIDTH, DEPTH, BLOCKS, MULTIPLIER)),
    fixed={"block": "mbconv"},
    presets=QUICK_UNET,
    metric="val_psnr",
    table="unet",
)

# Table 8: the baseline and the reduced UNet side by side, evaluated at the table's noise levels, 3 seeds, so
# "the reduced model has ... similar denoising performance" is judged inside one report.
TABLE8_SWEEP = Sweep(
    name="table8",
    trainable="denoiser",
    description="Table 8: UNet {d4 b32 c2 m2} vs UNet-S {d4 b8 c2 m1.5}, PSNR/SSIM at σ 0.2, 0.4, 0.8, 1",
    grid={"unet": ["UNet", "UNet-S"]},
    fixed={"eval_noise_levels": [0.2, 0.4, 0.8, 1.0]},
    presets=QUICK_UNET,
    seeds=3,
    metric="val_psnr",
    table="table8",
)

SWEEPS = [UNET_WIDTH, UNET_DEPTH, UNET_BLOCKS, UNET_MULTIPLIER, UNET_MBCONV, TABLE8_SWEEP]
