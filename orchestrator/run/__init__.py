"""One sweep, start to end: input checks, the plan, the Tune run, the exclusive latency phase."""
