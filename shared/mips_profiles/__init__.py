"""mips-profiles: CMS MIPS public files -> validated records -> per-NPI JSON documents.

The package is the common library of both Lambdas and of the ``mips-profiles`` CLI.
Layers, from the inside out:

- ``contract``, ``methodology``, ``npi``: rules as data and pure checks;
- ``reader`` -> ``validate`` -> ``documents``: the pure transform core (bytes in, bytes out);
- ``store``: small ports (blob store) with local-directory adapters;
- ``publish``: the orchestration that writes audit, documents and manifest in a safe order;
- ``cli``: the command-line entry point.
"""

__version__ = "0.1.0"
