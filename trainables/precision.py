"""How a training step runs on the hardware: autocast to bf16 or fp16 for the forward pass (a grad scaler
for fp16, whose narrow exponent range underflows small gradients), and the channels-last memory format
that GPU convolution kernels prefer. fp32 (the default) leaves the step exactly as plain PyTorch runs it,
so published numbers do not move unless a user asks for speed. Evaluation never goes through here."""
from __future__ import annotations

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingPrecision:
    def __init__(self, precision: str, channels_last: bool, device: torch.device):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {sorted(PRECISIONS)}")
        self.dtype, self.device, self.channels_last = PRECISIONS[precision], torch.device(device), channels_last
        self.scaler = torch.amp.GradScaler(self.device.type) if precision == "fp16" else None

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def forward(self, model: torch.nn.Module, x: torch.Tensor):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return model(x)
        with torch.autocast(self.device.type, dtype=self.dtype):
            return model(x)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: torch.nn.Module,
             grad_clip: float) -> None:
        """backward, optional clipping (on unscaled gradients), optimiser step."""
        scaler = self.scaler
        (scaler.scale(loss) if scaler else loss).backward()
        if grad_clip > 0:
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)


def as_float(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """Losses are computed in fp32 whatever precision the forward pass ran in."""
    return None if tensor is None else tensor.float()


