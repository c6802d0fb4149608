"""How trainables/ is put together: imports run one way (nas builds on models, never back; no cycles at
all is test_imports.py's), one task registry behind the places that ask what a task's network returns."""
import json
import random
import subprocess
import sys
from pathlib import Path

from trainables.export.onnx_model import OUTPUT_NAMES
from trainables.nas.derive import random_architecture
from trainables.nas.macro import Macro
from trainables.tasks import MODEL_TASKS, SEARCH_TASKS, TASKS

from .test_imports import module_imports

ROOT = Path(__file__).resolve().parents[1]


def test_models_never_import_nas():
    graph = module_imports()  # imports inside functions included; cycles: test_imports.py
    upward = {(m, t) for m, targets in graph.items() if m.startswith("trainables.models")
              for t in targets if t.startswith("trainables.nas")}
    assert upward == set()


def test_the_factory_builds_a_searched_network_whatever_was_imported_first(tmp_path):
    """A fresh interpreter that imports only the model factory still builds joint_mode='searched' networks
    (trainables.nas.derive registers the builder when the trainables package loads)."""
    arch_file = tmp_path / "architecture.json"
    arch_file.write_text(json.dumps(random_architecture(Macro.build((1, 16, 16), 10, 0.1), 8, random.Random(0))))
    code = ("import sys, torch\n"
            "from trainables.models.factory import build_model\n"
            "net = build_model(dict(task='joint', joint_mode='searched', architecture=sys.argv[1]))\n"
            "out = net(torch.rand(2, 1, 16, 16))\n"
            "print(type(net).__name__, tuple(out.image.shape), tuple(out.logits.shape))\n")
    result = subprocess.run([sys.executable, "-c", code, str(arch_file)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SearchedNet", "(2,", "1,", "16,", "16)", "(2,", "10)"]


def test_the_task_registry_says_what_each_network_returns():
    """The paper's tasks, by hand: a classifier returns logits, a denoiser an image, a joint model both;
    the NAS trial searches its joint network, the factory builds the others."""
    assert MODEL_TASKS == ("classifier", "denoiser", "joint") and SEARCH_TASKS == ("nas",)
    assert [(t.image, t.logits) for t in TASKS.values()] == [(False, True), (True, False), (True, True), (True, True)]
    assert OUTPUT_NAMES == {"classifier": ("logits",), "denoiser": ("denoised",), "joint": ("denoised", "logits")}
