"""Pareto fronts and hypervolume: what `jdnas best`, the search score and the reports rank by."""
