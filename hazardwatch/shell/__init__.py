"""The shell: wires the stages into a service, and the CLI, replay and back-test on top.

It imports everything and nothing imports it (tests/unit/test_layers.py keeps it so).
"""
