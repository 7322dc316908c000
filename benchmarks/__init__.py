"""Benchmarks: one script per question, each printing its baseline beside its figure.

Run them as scripts (`python benchmarks/bench_end_to_end.py`); nothing here is imported
by the product.
"""

__all__: list[str] = []
