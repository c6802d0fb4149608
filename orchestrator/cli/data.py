"""`jdnas data list` (which dataset is found where) and `jdnas data download NAME [--dir D]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestrator.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

# the datasets whose registry entry has a download, named here because --help must not load torch (tests/test_data.py
# holds it to the registry)
DOWNLOADABLE = ("fashion-mnist", "stl10", "cifar10")

def dataset_status(name: str, data_dir: Path) -> tuple[bool, str]:
    """(usable, one line: where it was found, or where we looked and how to get it)."""
    # lazy, as every trainables import here: trainables.data loads torch (~1 s), this module is on --help's path
    from trainables.data.download import SOURCES
    from trainables.data.registry import DATASETS, locate, search_folders

    if DATASETS[name].note:  # no files of its own
        return True, DATASETS[name].note
    found = locate(name, data_dir)
    if found:
        return True, f"found in {found}"
    get = f"jdnas data download {name} --dir {data_dir}  ({SOURCES[name].size})" if name in SOURCES else "no download"
    return False, f"missing (looked in {', '.join(map(str, search_folders(name, data_dir)))}); get it: {get}"


def cmd_data_list(args: argparse.Namespace) -> int:
    from trainables.data.registry import DATASETS, check_dataset_name, default_data_dir  # lazy: torch

    data_dir = Path(args.dir).expanduser() if args.dir else default_data_dir()
    names = args.names or list(DATASETS)
    for name in names:
        check_dataset_name(name)
    statuses = {name: dataset_status(name, data_dir) for name in names}
    print(f"data folder: {data_dir} (--dir, $JDNAS_DATA, or --set data_dir=... in a run)")
    for name, (usable, where) in statuses.items():
        print(f"  {name:<14}{'ok' if usable else 'MISSING':<9}{where}")
    if args.names:  # a script asking for named datasets learns whether they are all there
        return EXIT_OK if all(usable for usable, _ in statuses.values()) else EXIT_FAILED
    return EXIT_OK


def cmd_data_download(args: argparse.Namespace) -> int:
    from trainables.data.download import SOURCES, ChecksumError, DownloadError, download_dataset  # lazy: torch
    from trainables.data.registry import default_data_dir  # lazy: torch

    if args.name not in SOURCES:
        print(f"jdnas: error: no public download for dataset {args.name!r}; downloadable: {', '.join(SOURCES)}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    data_dir = Path(args.dir).expanduser() if args.dir else default_data_dir()
    try:
        folder = download_dataset(args.name, data_dir, mirror=args.mirror)
    except (DownloadError, ChecksumError) as err:
        print(f"jdnas: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.name} ready in {folder}\n  use it: jdnas run SWEEP --set dataset={args.name} --set data_dir={data_dir}")
    return EXIT_OK


def add_commands(sub) -> None:
    p = sub.add_parser("data", help="find (list) and download the datasets",
                       description="Exit codes: 0 done, 1 a dataset is missing or a download failed, 2 bad input.")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("list", help="every dataset of the registry and where it is found")
    q.add_argument("names", nargs="*", help="only these datasets (exit 1 if one is missing)")
    q.add_argument("--dir", help="data folder (default $JDNAS_DATA or ~/.cache/jdnas/data)")
    q.set_defaults(func=cmd_data_list)
    q = data_sub.add_parser("download", help="fetch a dataset with a public source (checksummed, resumable)")
    q.add_argument("name", help=", ".join(DOWNLOADABLE))
    q.add_argument("--dir", "--data-dir", dest="dir", help="data folder (default $JDNAS_DATA or ~/.cache/jdnas/data)")
    q.add_argument("--mirror", help="URL prefix holding the same file names instead of the upstream hosts "
                                    "(default $JDNAS_DATA_MIRROR)")
    q.set_defaults(func=cmd_data_download)
