"""The appendix's claims as data, kept beside the sweeps that can judge them (orchestrator.report.claims judges them).

A claim is one sentence of the paper, its place, the sweeps whose rows can judge it, and a predicate on a
metric column between two sides (each side a selector: column -> value, matched against a row's config):

- "greater": metric(a) - metric(b) > margin  (a beats b; `margin` 0 unless the sentence names one)
- "similar": |metric(a) - metric(b)| < margin ("similar", "retains": the margin is ours, `margin_source` says so)
- "less_spread": a's values over seeds spread less than b's (variance ratio < 1)

`paper_effect` is the paper's number for the same difference (or spreads), None where the paper gives none.
Users add claims for their own sweeps the same way as sweeps:

    from search_spaces.claims import Claim, register_claim
    register_claim(Claim("my-b12", "my notes", "b=12 beats b=8", ("my-unet",), "test_psnr_s0.8",
                         {"base_width": 12}, {"base_width": 8}))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from trainables.paper import TABLE7

KINDS = ("greater", "similar", "less_spread")


@dataclass(frozen=True)
class Claim:
    id: str
    place: str                       # where in the appendix (or the user's source)
    sentence: str                    # the claim in the paper's words
    sweeps: tuple[str, ...]          # sweeps whose rows can judge it
    metric: str                      # the row column compared
    a: Mapping[str, Any]             # selector of side a
    b: Mapping[str, Any]             # selector of side b
    kind: str = "greater"
    margin: float = 0.0
    paper_effect: float | tuple | None = None
    margin_source: str = ""          # why this margin, where the paper names none
    unit: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, got {self.kind!r}")


def _acc(name: str) -> float:
    return TABLE7[name][5]


def _t7(id_: str, place: str, sentence: str, a: str, b: str, metric: str = "test_acc") -> Claim:
    """A Table 7 comparison a - b, with the paper's effect read from Table 7."""
    column = {"test_acc": 5, "macs": 3, "latency_ms": 4}[metric]
    effect = TABLE7[a][column] - TABLE7[b][column]
    if metric == "macs":  # fewer FLOPs: b - a > 0
        return Claim(id_, place, sentence, ("classifier-scaling",), metric, {"classifier": b},
                     {"classifier": a}, paper_effect=-effect * 1e3, unit="MACs")  # Table 7 prints K
    return Claim(id_, place, sentence, ("classifier-scaling",), metric, {"classifier": a}, {"classifier": b},
                 paper_effect=round(effect, 3), unit="pp" if metric == "test_acc" else "ms")


A1 = "A.1 Exp. 1"
TABLE7_CLAIMS = [
    _t7("a1-mb25m-beats-convl", A1, "MB2.5-M classifies better than Conv-L", "MB2.5-M", "Conv-L"),
    _t7("a1-mb25m-fewer-flops", A1, "... with fewer FLOPs (MB2.5-M vs Conv-L)", "MB2.5-M", "Conv-L", "macs"),
    _t7("a1-mb4l-beats-convl", A1, "MB4-L classifies better than Conv-L", "MB4-L", "Conv-L"),
    _t7("a1-mb4l-fewer-flops", A1, "... with fewer FLOPs (MB4-L vs Conv-L)", "MB4-L", "Conv-L", "macs"),
    _t7("a1-mb1s-drops", A1, "with expansion rate 1 (MB1-S) the accuracy drops 7 % compared to Conv-L",
        "Conv-L", "MB1-S"),
    _t7("a1-mb4s-beats-mb1s", "A.1 Exp. 2", "MB4-S increases classification performance by only 0.4 % (over MB1-S)",
        "MB4-S", "MB1-S"),
    _t7("a1-mb25s-beats-mb4s", "A.1 Exp. 2", "MB2.5-S significantly outperforms both other S-sized MB models (MB4-S)",
        "MB2.5-S", "MB4-S"),
    _t7("a1-mb25s-beats-mb1s", "A.1 Exp. 2", "MB2.5-S significantly outperforms both other S-sized MB models (MB1-S)",
        "MB2.5-S", "MB1-S"),
    _t7("a1-mb1s-beats-convs", "A.1 Exp. 3", "all S-sized MB models outperform Conv-S (MB1-S)", "MB1-S", "Conv-S"),
    _t7("a1-mb4s-beats-convs", "A.1 Exp. 3", "all S-sized MB models outperform Conv-S (MB4-S)", "MB4-S", "Conv-S"),
    _t7("a1-mb25s-beats-convs", "A.1 Exp. 3", "MB2.5-S outperforms Conv-S by 3.0 %", "MB2.5-S", "Conv-S"),
    _t7("a1-mb25m-beats-convm", "A.1 Exp. 3", "MB2.5-M also outperforms Conv-M, by 2.7 %", "MB2.5-M", "Conv-M"),
    _t7("a1-mbconv-no-latency-gain", "A.1 Conclusion", "the reduction in FLOPs instantiated by using MBConvs does "
        "not translate to a latency reduction (MB2.5-M vs Conv-L)", "MB2.5-M", "Conv-L", "latency_ms"),
]
PSNR = "test_psnr_s0.8"  # Fig. 9 plots sigma 0.8 only
CONV = {"block": "conv"}
DB_MARGIN = "ours: 0.5 dB, the appendix says 'small' / 'retains' without a number"


def _unet(**axes) -> dict:
    return {**CONV, **axes}


FIG9_CLAIMS = [
    Claim("a2-psnr-rises-with-b", "A.2 Exp. 1", "performance and FLOPs increase with b (b = 64 vs b = 4)",
          ("unet-width",), PSNR, _unet(base_width=64, depth=4), _unet(base_width=4, depth=4), unit="dB"),
    Claim("a2-b4-disrupts", "A.2 Exp. 1", "the trend is significantly disrupted by b = 4 (b = 8 vs b = 4)",
          ("unet-width",), PSNR, _unet(base_width=8, depth=4), _unet(base_width=4, depth=4), unit="dB"),
    Claim("a2-b32-b64-similar", "A.2 Exp. 1", "the performance difference between b = 32 and b = 64 is small",
          ("unet-width",), PSNR, _unet(base_width=64, depth=4), _unet(base_width=32, depth=4), kind="similar",
          margin=0.5, margin_source=DB_MARGIN, unit="dB"),
    Claim("a2-depth-drop", "A.2 Exp. 2", "reducing d causes a drop in denoising performance (b = 32: d = 4 vs 2)",
          ("unet-depth",), PSNR, _unet(base_width=32, depth=4), _unet(base_width=32, depth=2), unit="dB"),
    Claim("a2-c2-beats-c1", "A.2 Exp. 3", "the model with c = 2 outperforms c = 1 (b = 32)",
          ("unet-blocks",), PSNR, _unet(base_width=32, blocks=2), _unet(base_width=32, blocks=1), unit="dB"),
    Claim("a2-m15-retains", "A.2 Exp. 4", "the reduction to m = 1.5 retains performance (vs m = 2)",
          ("unet-multiplier",), PSNR, _unet(multiplier=1.5), _unet(multiplier=2.0), kind="similar",
          margin=0.5, margin_source=DB_MARGIN, unit="dB"),
    Claim("a2-m1-drops", "A.2 Exp. 4", "for m = 1, the performance drops (m = 1.5 vs m = 1)",
          ("unet-multiplier",), PSNR, _unet(multiplier=1.5), _unet(multiplier=1.0), unit="dB"),
    Claim("a2-conv-beats-mbconv", "A.2 Conclusion", "the Conv UNet slightly outperforms the MB model "
          "(d4 b32 c2 m2; needs the MBConv rows and the Conv rows in one report)", ("unet-mbconv",), PSNR,
          _unet(base_width=32, depth=4, blocks=2, multiplier=2.0),
          {"block": "mbconv", "base_width": 32, "depth": 4, "blocks": 2, "multiplier": 2.0}, unit="dB"),
]

UNET, UNET_S = {"unet": "UNet"}, {"unet": "UNet-S"}
TABLE8_CLAIMS = [
    Claim("t8-similar-psnr", "A.2 Conclusion, Table 8", "the denoising performance (of UNet-S) is relatively "
          "similar to the baseline denoiser (PSNR at σ = 0.8)", ("table8",), PSNR, UNET_S, UNET, kind="similar",
          margin=1.0, margin_source="ours: 1 dB, 'relatively similar' has no number and Table 8's cells are lost",
          unit="dB"),
    Claim("t8-lower-latency", "Table 8", "the reduced model has significantly lower latency", ("table8",),
          "latency_ms", UNET, UNET_S, paper_effect=round(7.10 - 2.38, 2), unit="ms"),
    Claim("t8-fewer-flops", "Table 8", "the reduced model has significantly lower FLOPs", ("table8",), "macs",
          UNET, UNET_S, paper_effect=round((1301.8 - 51.2) * 1e6), unit="MACs"),
]

CLEAN_ACC = "test_acc_s0"  # Table 10 reports the clean accuracy
BETA_SWEEPS = ("nas-beta", "nas-beta-joint")
TABLE10_CLAIMS = [
    Claim("c-removed-beats-learned", "Appendix C, Table 10", "the models with Removed β significantly outperform "
          "the models with Learned β in accuracy", BETA_SWEEPS, CLEAN_ACC, {"beta_mode": "removed"},
          {"beta_mode": "learned"}, paper_effect=round((86.2 + 86.4) / 2 - (84.9 + 83.5) / 2, 2), unit="pp"),
    Claim("c-removed-stable-acc", "Appendix C", "Removed β differs only 0.2 % accuracy, Learned β 1.4 %: the search "
          "for Removed is more stable", BETA_SWEEPS, CLEAN_ACC, {"beta_mode": "removed"}, {"beta_mode": "learned"},
          kind="less_spread", paper_effect=(0.2, 1.4), unit="pp"),
    Claim("c-removed-stable-latency", "Appendix C", "Removed β differs only 0.04 ms, Learned β 0.57 ms",
          BETA_SWEEPS, "latency_ms", {"beta_mode": "removed"}, {"beta_mode": "learned"}, kind="less_spread",
          paper_effect=(0.04, 0.57), unit="ms"),
]

_REGISTRY: dict[str, Claim] = {}


def register_claim(claim: Claim) -> Claim:
    _REGISTRY[claim.id] = claim
    return claim


def claims_for(sweep_name: str) -> list[Claim]:
    """The claims a sweep's rows can judge."""
    return [c for c in _REGISTRY.values() if sweep_name in c.sweeps]


def all_claims() -> list[Claim]:
    return list(_REGISTRY.values())


for _claim in (*TABLE7_CLAIMS, *FIG9_CLAIMS, *TABLE8_CLAIMS, *TABLE10_CLAIMS):
    register_claim(_claim)

# Table 9 (Appendix B) lists the candidate ops of each search-space size and claims no outcome; nothing to judge.
NO_CLAIM = {"Table 9": "lists the 4/6/8-op search spaces; no measurable claim"}
