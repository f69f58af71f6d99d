"""Publishing a release into the public tree through ``ports.BlobStore``: staging, partitions, finalize
(manifest last), bulk files and the change feed, the PDC reconciliation, repair. Never imports an adapter."""
