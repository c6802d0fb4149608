"""jdnas orchestrator: runs the paper's sweeps with Ray Tune and records them in MLflow."""
