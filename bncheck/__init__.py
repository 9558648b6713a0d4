"""bncheck: verify Batch Normalization."""
