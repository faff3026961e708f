"""boxen: a complete container stack, built bottom-up the way containers work.

Layers, each a package that imports only the ones before it: ``common`` and ``oci`` (shared
vocabulary and the OCI specs as types), ``runtime`` (layer 1: an OCI runtime), ``image``
(layer 2: content, registries, snapshots, builds), then the engine, the cluster and VM
containers. See docs/architecture.md.
"""
