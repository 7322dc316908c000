"""The vocabulary every stage speaks: the site model and its config, the standards'
numbers, substances, geometry, clocks, transfer plans. It imports no stage.

Modules are imported by name (`hazardwatch.vocabulary.model`, ...); `hazardwatch` itself
re-exports the names most code needs.
"""
