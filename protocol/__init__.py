"""farmkit.protocol: protocol objects and byte layouts (pieces, records, segments, sectors,
solutions) with one source for every constant (:mod:`farmkit.protocol.constants`).

Depends only on :mod:`farmkit.kernels`; the tools build on it.
"""
