"""Noisy data: dataset readers behind one registry, seeded splits, the paper's noise model, batches."""
from .noise import NOISE_LEVELS, add_noise, eval_noise, sample_sigmas
from .registry import DATASETS, DatasetNotFound, ImageDataset, check_dataset_name, load_dataset
from .splits import DataSplits, prepare_splits

__all__ = ["NOISE_LEVELS", "add_noise", "eval_noise", "sample_sigmas", "DATASETS", "DatasetNotFound",
           "ImageDataset", "check_dataset_name", "load_dataset", "DataSplits", "prepare_splits"]
