"""pyarrow as the Lambda runtime has it, not as the PyPI wheel has it.

The shard function gets pyarrow from the AWS SDK for pandas managed layer, whose build script
(aws/aws-sdk-pandas, ``building/lambda/build-lambda-layer.sh``) configures Arrow with
``-DARROW_PARQUET=ON -DARROW_DATASET=ON -DARROW_CSV=ON -DARROW_JSON=ON -DARROW_COMPUTE=ON
-DARROW_FILESYSTEM=ON -DARROW_WITH_SNAPPY=ON -DARROW_WITH_ZLIB=ON`` and ``-DARROW_WITH_ZSTD=OFF
-DARROW_WITH_LZ4=OFF -DARROW_WITH_BROTLI=OFF -DARROW_WITH_BZ2=OFF -DARROW_ORC=OFF -DARROW_FLIGHT=OFF
-DARROW_GANDIVA=OFF``. (Its issue #2445 is the symptom: "Support for codec 'zstd' not built".)

``layer_pyarrow()`` makes the PyPI wheel refuse what that build lacks, the way the layer's pyarrow does,
for every Parquet write and read; the AWS tests run inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

LAYER_PARQUET_CODECS = frozenset({"SNAPPY", "GZIP", "UNCOMPRESSED", "NONE"})
LAYER_PYARROW_MODULES = frozenset(
    {
        "pyarrow",
        "pyarrow.parquet",
        "pyarrow.csv",
        "pyarrow.json",
        "pyarrow.compute",
        "pyarrow.dataset",
        "pyarrow.fs",
        "pyarrow.types",
    }
)


def _refuse(codec: Any) -> None:
    names = codec.values() if isinstance(codec, dict) else [codec]
    for name in names:
        if str(name or "none").upper() not in LAYER_PARQUET_CODECS:
            raise pa.ArrowNotImplementedError(f"Support for codec '{str(name).lower()}' not built")


def _check_file(source: Any) -> None:
    metadata = pq.ParquetFile(source).metadata
    for g in range(metadata.num_row_groups):
        for c in range(metadata.num_columns):
            _refuse(metadata.row_group(g).column(c).compression)
    if hasattr(source, "seek"):
        source.seek(0)


@contextmanager
def layer_pyarrow() -> Iterator[None]:
    write_table, read_table = pq.write_table, pq.read_table
    writer_init = pq.ParquetWriter.__init__

    def guarded_write(table: Any, where: Any, *args: Any, compression: Any = "snappy", **kwargs: Any) -> Any:
        _refuse(compression)
        return write_table(table, where, *args, compression=compression, **kwargs)

    def guarded_writer(
        self: Any, where: Any, schema: Any, *args: Any, compression: Any = "snappy", **kwargs: Any
    ) -> None:
        _refuse(compression)
        writer_init(self, where, schema, *args, compression=compression, **kwargs)

    def guarded_read(source: Any, *args: Any, **kwargs: Any) -> Any:
        _check_file(source)
        return read_table(source, *args, **kwargs)

    pq.write_table, pq.read_table, pq.ParquetWriter.__init__ = guarded_write, guarded_read, guarded_writer
    try:
        yield
    finally:
        pq.write_table, pq.read_table, pq.ParquetWriter.__init__ = write_table, read_table, writer_init
