"""Vocabulary shared by every layer: errors, records, digests, JSON helpers.

Modules here import only the standard library, and the ones on the runtime's start-up path
(``errors``, ``record``, ``jsonio``, ``schema``) only the parts of it that load in well under
a millisecond.
"""
