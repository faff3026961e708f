"""The OCI specifications as types: runtime (``config.json``, state), image and distribution."""
