"""`make clean` removes caches only; results go only through `make clean-results CONFIRM=yes`, which lists them."""
import shutil
import subprocess
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
RESULTS = ["mlflow.db", "results/classifier-scaling-quick/results.parquet", "reports/x/report.md",
           "mlartifacts/1/a.pt", "logs/jdnas-error-1.log"]
CACHES = [".ray/session_latest/x", "orchestrator/__pycache__/cli.pyc", ".pytest_cache/v"]


def run_folder(tmp_path):
    shutil.copy(MAKEFILE, tmp_path / "Makefile")
    for name in RESULTS + CACHES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    return tmp_path


def make(folder, *args):
    return subprocess.run(["make", "-s", *args], cwd=folder, capture_output=True, text=True, timeout=60)


def test_make_clean_keeps_every_result_and_removes_the_caches(tmp_path):
    folder = run_folder(tmp_path)
    assert make(folder, "clean").returncode == 0
    assert all((folder / name).exists() for name in RESULTS)
    assert not any((folder / name.split("/")[0]).exists() for name in CACHES if name.startswith("."))
    assert not (folder / "orchestrator" / "__pycache__").exists()


def test_clean_results_lists_what_it_deletes_and_needs_confirmation(tmp_path):
    folder = run_folder(tmp_path)
    asked = make(folder, "clean-results")
    assert asked.returncode != 0 and "this deletes: logs mlartifacts mlflow.db reports results" in asked.stdout
    assert "CONFIRM=yes" in asked.stdout and all((folder / name).exists() for name in RESULTS)
    assert make(folder, "clean-results", "CONFIRM=yes").returncode == 0
    assert not any((folder / name.split("/")[0]).exists() for name in RESULTS)
