"""Helpers shared by the test suites: bundles, runtimes under test, registries, images, peers.

Importable as ``support`` (pyproject sets ``pythonpath = ["tests"]``).
"""
