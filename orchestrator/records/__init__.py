"""Where a sweep's records live (Tune storage, the MLflow URI) and its result rows, read back and written as Parquet."""
