"""The paper's tables rebuilt from a sweep's rows, the claims judged with their intervals, and the plots."""
