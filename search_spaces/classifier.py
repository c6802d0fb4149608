"""Appendix A.1, Table 7: the classifier scaling study (Exp. 1-3: Conv vs MBConv, expansion rate vs
width scaling, Conv width scaling), all eight models in one grid."""
from trainables.paper import TABLE7

from .base import Sweep

CLASSIFIER_SCALING = Sweep(
    name="classifier-scaling",
    trainable="classifier",
    description="Table 7: Conv-S/M/L and MB1-S, MB2.5-S/M, MB4-S/L on noisy images (accuracy over 11 sigmas)",
    grid={"classifier": list(TABLE7)},
    metric="val_acc",
    table="table7",
)

SWEEPS = [CLASSIFIER_SCALING]
