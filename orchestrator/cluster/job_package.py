"""What `jdnas submit` uploads with a user's sweep file: the files git tracks in the sweep file's project plus
the sweep file itself, staged in a fresh folder, never the folder the file happens to sit in (a sweep file in
the home folder would otherwise ship ~/.ssh, ~/.aws and ~/.ray/auth_token to the cluster)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

# never shipped, even when tracked: version control, environments, results, stores and exports
EXCLUDED = {".git", ".venv", "venv", "results", "reports", "mlruns", "mlartifacts", "mlflow.db", "exports", ".ray",
            "__pycache__"}


def project_files(folder: Path) -> tuple[Path | None, list[Path]]:
    """(root, tracked files relative to it) of the git work tree holding `folder`; (None, []) outside one."""
    try:
        root = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                              text=True, check=True).stdout.strip()
        listing = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, []
    files = [Path(p) for p in listing.split("\0") if p]
    return Path(root), [p for p in files if not EXCLUDED & set(p.parts) and (Path(root) / p).is_file()]


def refuse_home(folder: Path) -> None:
    if folder.resolve() == Path.home().resolve():
        raise ValueError(f"{folder} is your home folder: put the sweep file in a project folder; jdnas does not "
                         "upload a home folder (its .ssh, .aws and tokens) to a cluster")


def stage(sweep_file: Path) -> tuple[Path, str]:
    """A new temp folder holding what the job needs, and the sweep file's path inside it. The caller removes
    the folder once the job is submitted (Ray has uploaded it by then)."""
    sweep_file = sweep_file.resolve()
    if not sweep_file.is_file():
        raise ValueError(f"sweep file {sweep_file} does not exist")
    root, files = project_files(sweep_file.parent)
    if root is not None:
        refuse_home(root)
    staging = Path(tempfile.mkdtemp(prefix="jdnas-job-"))
    for relative in files:
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, staging / relative)
    inside = sweep_file.relative_to(root) if root is not None else Path(sweep_file.name)
    (staging / inside).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sweep_file, staging / inside)
    return staging, inside.as_posix()
