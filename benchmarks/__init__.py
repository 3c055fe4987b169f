"""farmkit.benchmarks: speed is shown here (ratios against baselines measured in the same run), never in tests."""
