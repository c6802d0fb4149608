"""`jdnas submit` ships a sweep file, not the folder around it: on a real one-machine Ray cluster (token auth
on), a sweep file next to a decoy ~/.ssh/id_rsa reaches the job without the .ssh folder, and a folder and a
run name with spaces survive the job's shell command."""
import json

import pytest

from .test_cluster import TINY_SETS, cluster, jdnas  # noqa: F401 - cluster is a fixture

# imported locally by `jdnas submit` and again by the job on the cluster: each import notes where it ran
SWEEP = """import json, os
from search_spaces import Sweep
with open({listing!r}, "a") as f:
    f.write(json.dumps({{"cwd": os.getcwd(), "files": sorted(os.listdir("."))}}) + "\\n")
PROBE = Sweep(name="package-probe", trainable="classifier", fixed={{"classifier": "Conv-S", "dataset": "synthetic"}})
"""


@pytest.mark.slow
@pytest.mark.cluster
def test_submit_ships_the_sweep_file_but_not_the_folder_around_it(cluster, tmp_path):  # noqa: F811
    home = tmp_path / "my dir"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY----- decoy\n")
    (home / "notes.txt").write_text("not part of any project\n")
    listing = tmp_path / "imports.jsonl"
    (home / "sweep.py").write_text(SWEEP.format(listing=str(listing)))
    result = jdnas("submit", f"{home}/sweep.py:PROBE", "--address", cluster.dashboard_url, "--name", "my run",
                   "--remote-workdir", str(tmp_path / "remote"), "--set", "epochs=1", *TINY_SETS, "--wait",
                   timeout=600, env=cluster.client_env, cwd=home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    imports = [json.loads(line) for line in listing.read_text().splitlines()]
    on_cluster = [i for i in imports if "working_dir_files" in i["cwd"]]  # Ray's unpacked runtime_env working_dir
    assert on_cluster, imports
    for job_import in on_cluster:
        assert job_import["files"] == ["sweep.py"], job_import  # no .ssh, no notes.txt
    assert (tmp_path / "remote" / "results" / "my run").is_dir()  # --name with a space reached the job whole
