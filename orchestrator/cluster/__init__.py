"""Ray clusters jdnas starts or submits to: token auth, local multi-node, Ray Jobs, SLURM."""
