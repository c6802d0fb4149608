"""Sweep definitions: every paper experiment is present, and bad input fails before Ray starts."""
import pytest
import ray

from orchestrator.cli.main import main
from search_spaces import PRESETS, SweepError, all_sweeps, get_sweep, parse_override, resolve
from trainables.paper import TABLE7


def test_every_paper_sweep_is_registered_with_both_presets():
    names = {s.name for s in all_sweeps()}
    assert {"classifier-scaling", "unet-width", "unet-depth", "unet-blocks", "unet-multiplier", "unet-mbconv",
            "joint", "joint-tuning"} <= names
    for sweep in all_sweeps():
        for preset in PRESETS:
            assert resolve(sweep, preset).num_trials >= 1


@pytest.mark.parametrize("name,variants", [
    ("classifier-scaling", 8), ("unet-width", 5), ("unet-depth", 12), ("unet-blocks", 8),
    ("unet-multiplier", 3), ("unet-mbconv", 5 + 9 + 4 + 2), ("joint", 9)])
def test_grid_sizes_match_the_paper(name, variants):
    resolved = resolve(get_sweep(name), "quick")
    assert len(resolved.variants) == variants
    assert resolved.num_trials == variants * 2  # two seeds by default
    assert len({str(sorted(c.items())) for c in resolved.trial_configs}) == variants * 2  # all distinct


def test_classifier_scaling_grid_is_table7():
    resolved = resolve(get_sweep("classifier-scaling"), "quick")
    assert [v["classifier"] for v in resolved.variants] == list(TABLE7)


def test_unet_studies_hold_the_other_hyperparameters_fixed():
    width = resolve(get_sweep("unet-width"), "paper")
    assert {(c["depth"], c["multiplier"], c["blocks"]) for c in width.trial_configs} == {(4, 2.0, 2)}
    assert [v["base_width"] for v in width.variants] == [4, 8, 16, 32, 64]
    mb = resolve(get_sweep("unet-mbconv"), "quick")
    assert {c["block"] for c in mb.trial_configs} == {"mbconv"}


def test_presets_quick_and_paper():
    quick = resolve(get_sweep("classifier-scaling"), "quick").base
    paper = resolve(get_sweep("classifier-scaling"), "paper").base
    assert (quick["dataset"], quick["image_size"], quick["fit"]) == ("fashion-mnist", 32, "pad")
    assert (paper["dataset"], paper["image_size"], paper["epochs"]) == ("stl10", 96, 200)
    assert resolve(get_sweep("classifier-scaling"), "paper").run["gpus_per_trial"] == 1


def test_overrides_field_by_field_and_seeds():
    resolved = resolve(get_sweep("unet-width"), "quick", {"epochs": 1, "base_width": [8, 16], "seeds": 3})
    assert resolved.base["epochs"] == 1 and [v["base_width"] for v in resolved.variants] == [8, 16]
    assert resolved.num_trials == 6 and sorted({c["seed"] for c in resolved.trial_configs}) == [0, 1, 2]
    assert resolved.name.startswith("unet-width-quick-") and resolve(get_sweep("unet-width")).name == "unet-width-quick"


@pytest.mark.parametrize("overrides,pattern", [
    ({"base_widht": 8}, r"sweep 'unet-width': unknown field 'base_widht'; did you mean 'base_width'\?"),
    ({"base_width": [0]}, r"sweep 'unet-width': field 'base_width' = 0 must be >= 1; allowed values: int >= 1"),
    ({"base_width": []}, r"sweep 'unet-width': grid axis 'base_width' is empty; allowed values: int >= 1"),
    ({"dataset": "imagenet"}, r"field 'dataset' = 'imagenet' must be one of \[.*'fashion-mnist'.*\]"),
    ({"optimizer": "lion"}, r"field 'optimizer' = 'lion' must be one of \['adam', 'adamw', 'sgd'\]"),
    ({"lr": -1.0}, r"field 'lr' = -1.0 must be > 0"),
    ({"epochs": 2.5}, r"field 'epochs' = 2.5 must be of type int"),
    ({"seeds": 0}, r"field 'seeds' = 0 must be >= 1"),
    ({"image_size": 36}, r"input size 36 is not divisible by 2\^\(d-1\) = 8"),
])
def test_invalid_sweep_values_name_the_sweep_field_and_allowed_values(overrides, pattern):
    with pytest.raises(SweepError, match=pattern):
        resolve(get_sweep("unet-width"), "quick", overrides)


def test_depth_study_rejects_sizes_the_deepest_unet_cannot_take():
    with pytest.raises(SweepError, match=r"unet-depth.*'depth': 5.*not divisible by 2\^\(d-1\) = 16"):
        resolve(get_sweep("unet-depth"), "quick", {"image_size": 24})


def test_unknown_preset_and_sweep():
    with pytest.raises(SweepError, match="unknown preset 'huge'"):
        resolve(get_sweep("joint"), "huge")
    with pytest.raises(SweepError, match="unknown sweep 'unet-width2'"):
        get_sweep("unet-width2")


def test_parse_override():
    assert parse_override("epochs=3") == ("epochs", 3)
    assert parse_override("lr=1e-3") == ("lr", 1e-3)
    assert parse_override("unet=UNet-S") == ("unet", "UNet-S")
    assert parse_override("base_width=8,16") == ("base_width", [8, 16])
    assert parse_override("classifier=Conv-S,MB1-S") == ("classifier", ["Conv-S", "MB1-S"])
    assert parse_override("train_noise_levels=[0.0]") == ("train_noise_levels", [0.0])
    assert parse_override("width=null") == ("width", None)
    assert parse_override("augment=false") == ("augment", False)


@pytest.mark.parametrize("args,message", [
    (["run", "unet-width", "--set", "base_widht=8"], "unknown field 'base_widht'"),
    (["run", "unet-width", "--set", "image_size=20"], "not divisible"),
    (["run", "unet-width", "--set", "dataset=stl10", "--set", "data_dir=/nonexistent"], "stl10 not found; looked"),
    (["run", "unet-width", "--tracking-uri", "http://127.0.0.1:9"], "unreachable"),
    (["run", "unet-width", "--tracking-uri", "./mlruns"], "sqlite:///"),
])
def test_cli_rejects_bad_input_before_ray_starts(tmp_path, capsys, args, message):
    assert main(args + ["--workdir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not ray.is_initialized()
    assert not (tmp_path / "results").exists() and not (tmp_path / "mlflow.db").exists()


def test_list_command(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "classifier-scaling" in out and "16/16" in out and "quick:" in out


def test_a_sweep_defined_in_the_users_own_file(tmp_path, capsys):
    from orchestrator.cli.user_sweeps import load_sweep

    (tmp_path / "my_sweeps.py").write_text(
        "from search_spaces import Sweep\n"
        "MINE = Sweep(name='unet-tiny', trainable='denoiser', grid={'base_width': [4, 6]},\n"
        "             fixed={'depth': 3, 'blocks': 2, 'multiplier': 2.0}, metric='val_psnr', table='unet')\n")
    sweep = load_sweep(f"{tmp_path}/my_sweeps.py:MINE")
    resolved = resolve(sweep, "quick")
    assert resolved.num_trials == 4 and {c["task"] for c in resolved.trial_configs} == {"denoiser"}
    assert main(["run", f"{tmp_path}/my_sweeps.py:MINE", "--set", "depth=9", "--workdir", str(tmp_path)]) == 2
    assert "sweep 'unet-tiny'" in capsys.readouterr().err
