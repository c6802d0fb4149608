"""INT8 post-training static quantisation with ONNX Runtime, calibrated on noisy validation images.

QDQ format, per-channel int8 weights, uint8 activations with MinMax ranges from `calibration` validation
images at the evaluation noise levels (the inputs the deployed model will see). The caller scores the
result beside the fp32 graph with the same evaluation, so the accuracy / PSNR cost of INT8 is explicit.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quant_pre_process,
                                      quantize_static)

from ..data.batches import to_device_float
from .onnx_model import INPUT_NAME


def calibration_batches(images: np.ndarray, levels, count: int, batch: int = 16, seed: int = 0,
                        clip: bool = False) -> list[np.ndarray]:
    """Up to `count` validation images, each with noise of one of `levels` (cycled), in batches; clipped to
    [0, 1] when the trial trained on clipped inputs (`noise_clip`)."""
    clean = to_device_float(images[:count], torch.device("cpu")).numpy()
    rng = np.random.default_rng(seed)
    sigmas = np.array([levels[i % len(levels)] for i in range(len(clean))], dtype=np.float32)[:, None, None, None]
    noisy = (clean + sigmas * rng.standard_normal(clean.shape, dtype=np.float32)).astype(np.float32)
    if clip:
        noisy = np.clip(noisy, 0, 1)
    return [noisy[i:i + batch] for i in range(0, len(noisy), batch)]


def quantize_int8(model_bytes: bytes, batches: list[np.ndarray]) -> bytes:
    """The fp32 graph statically quantised to int8 (QDQ), calibrated on `batches`."""
    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(batches)

        def get_next(self):
            batch = next(self.items, None)
            return None if batch is None else {INPUT_NAME: batch}

    with tempfile.TemporaryDirectory(prefix="jdnas-int8-") as tmp:
        fp32, prepared, int8 = Path(tmp, "fp32.onnx"), Path(tmp, "prepared.onnx"), Path(tmp, "int8.onnx")
        fp32.write_bytes(model_bytes)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return int8.read_bytes()
