"""PSNR / SSIM cross-checked against scikit-image, plus accuracy and latency plumbing."""
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from trainables.measure.latency import measure_latency
from trainables.measure.quality import correct_predictions, psnr_per_image, ssim_per_image
from trainables.models import build_classifier


@pytest.mark.parametrize("channels,sigma", [(3, 0.1), (1, 0.5), (3, 1.0)])
def test_psnr_ssim_agree_with_scikit_image(channels, sigma):
    g = torch.Generator().manual_seed(channels)
    clean = torch.rand(3, channels, 40, 36, generator=g)
    noisy = clean + sigma * torch.randn(clean.shape, generator=g)
    psnr, ssim = psnr_per_image(noisy, clean), ssim_per_image(noisy, clean)
    for i in range(3):
        out = noisy[i].clamp(0, 1).permute(1, 2, 0).double().numpy()
        ref = clean[i].permute(1, 2, 0).double().numpy()
        ref_ssim = structural_similarity(ref, out, channel_axis=-1, data_range=1.0, gaussian_weights=True,
                                         sigma=1.5, use_sample_covariance=False)
        assert abs(float(psnr[i]) - peak_signal_noise_ratio(ref, out, data_range=1.0)) < 1e-3
        assert abs(float(ssim[i]) - ref_ssim) < 1e-3


def test_psnr_known_value_and_clamping():
    clean = torch.full((1, 1, 16, 16), 0.5)
    assert float(psnr_per_image(clean + 0.1, clean)) == pytest.approx(20.0, abs=1e-4)
    # outputs beyond [0, 1] are clamped first: 1.5 counts as 1.0 against a clean 1.0 image
    assert float(psnr_per_image(torch.full_like(clean, 1.5), torch.ones_like(clean))) >= 100
    assert float(ssim_per_image(clean, clean)) == pytest.approx(1.0, abs=1e-6)


def test_ssim_rejects_tiny_images():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_per_image(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_correct_predictions():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert int(correct_predictions(logits, torch.tensor([0, 1, 1]))) == 2


def test_latency_reports_device_and_settings():
    lat = measure_latency(build_classifier("Conv-S"), (3, 32, 32), batch_size=2, threads=1, min_run_time=0.05)
    assert lat.median_ms > 0 and lat.iqr_ms >= 0
    assert lat.device == "cpu" and lat.device_name and lat.torch_version == torch.__version__
    assert (lat.batch_size, lat.threads, lat.precision) == (2, 1, "fp32")
    with pytest.raises(ValueError, match="precision"):
        measure_latency(build_classifier("Conv-S"), (3, 32, 32), precision="int4")


@pytest.mark.parametrize("small,big", [
    (dict(task="classifier", classifier="Conv-S"), dict(task="classifier", classifier="Conv-L")),
    (dict(task="denoiser", unet="UNet-S"), dict(task="denoiser", unet="UNet")),
    (dict(task="joint", joint_mode="integrated", unet="UNet-S", classifier="MB2.5-M"),
     dict(task="joint", joint_mode="integrated", unet="UNet-M", classifier="MB2.5-M")),
])
def test_a_bigger_model_is_not_faster_than_a_smaller_one(small, big):
    """Each pair differs 2.8-26x in MACs; timed alternately (so a load burst hits both), the bigger model's
    median may undercut the smaller one's only by the timings' own spread (their IQRs)."""
    from trainables.models import build_model

    timings = {"small": [], "big": []}
    for _ in range(2):
        for name, config in (("small", small), ("big", big)):
            timings[name].append(measure_latency(build_model(config, 3, 10), (3, 32, 32), min_run_time=0.1))
    fast = {k: min(v, key=lambda lat: lat.median_ms) for k, v in timings.items()}
    assert fast["big"].median_ms > fast["small"].median_ms - fast["big"].iqr_ms - fast["small"].iqr_ms, timings
