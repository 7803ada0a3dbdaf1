"""Benchmarks (`python -m emofusion.bench NAME`): each prints ratios measured in one run."""
