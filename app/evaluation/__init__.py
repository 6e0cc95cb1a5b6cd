"""Batch evaluation (offline, or /v1/evaluate): cases, metrics, the runner and the HTML report."""
