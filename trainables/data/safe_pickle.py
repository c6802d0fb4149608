"""CIFAR-10's python release is a set of pickles: dicts of bytes, ints and one numpy array. A plain
`pickle.load` of a file found in a data folder runs whatever code the file names, so these files are read by
an unpickler that can build nothing but those: any other global (os.system, builtins.eval, ...) is refused
before it is called, and an array of Python objects is refused too."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

# the only callables a CIFAR batch needs: numpy's array reconstruction, under numpy 1's and 2's module names
ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
           ("numpy", "ndarray"), ("numpy", "dtype")}


class DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a data file may hold only arrays")
        return super().find_class(module, name)


def load_data_pickle(path: Path) -> object:
    """The pickled data in `path`; ValueError (naming the file) for anything beyond plain data and arrays."""
    try:
        with open(path, "rb") as f:
            value = DataOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError) as err:
        raise ValueError(f"{path} is not a plain-data pickle (CIFAR-10 python batch): {err}") from None
    arrays = value.values() if isinstance(value, dict) else []
    if any(isinstance(a, np.ndarray) and a.dtype.hasobject for a in arrays):
        raise ValueError(f"{path} holds an array of Python objects, not image data")
    return value
