"""mips-profiles: CMS MIPS public files -> validated records -> per-NPI JSON documents.

The package is the common library of both Lambdas and of the ``mips-profiles`` CLI. Its subpackages are
its layers, from the inside out (imports point inwards only; docs/architecture.md):

- ``errors``, ``clock``, ``keys`` (every object key), ``ports`` (every Protocol): the base;
- ``core``: the rules as data and the pure transform core (bytes in, documents out);
- ``adapters``: S3, DynamoDB, HTTP, CloudFront, and their local twins;
- ``publishing``: the safe order of writes (documents, private index, manifest last), bulk files, repair;
- ``orchestration``: what each Lambda step and the local refresh do;
- ``consumers``: serve, report, OpenAPI; ``sandbox``: the CMS stand-in, the generator, the demo;
- ``cli``: the command-line entry point.
"""

__version__ = "0.1.0"
