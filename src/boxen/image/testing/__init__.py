"""Testing tools that ship with the image layer: conformance suites and fakes.

* :mod:`boxen.image.testing.content`: ``check_content_store()`` and its cases, run against
  every content store implementation;
* :mod:`boxen.image.testing.registry`: ``FakeRegistry``, an in-memory OCI distribution
  registry served as a registry ``Transport`` of its own, for registry client tests without
  a network.
"""
