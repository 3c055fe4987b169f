"""farmkit: an HPC toolkit for farming on the Autonomys network.

The repository's top-level folders are the sub-packages of this namespace:
``farmkit.kernels`` (math, backend-neutral), ``farmkit.protocol`` (byte layouts and constants),
``farmkit.pot``, ``farmkit.plotter``, ``farmkit.auditor``, ``farmkit.farmerd``,
``farmkit.hwprofiles`` and ``farmkit.benchmarks``. Dependencies point one way, in that order.
"""

__version__ = "0.1.0"
