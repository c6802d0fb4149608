"""MLflow: the sweep's parent and child runs, logged models, the tracking server, sync and the registry."""
