"""The private record of the public objects no private entry can rebuild: the manifest, every change object and
every aggregate, byte for byte, under ``index/public/`` (``keys.public_record_key``).

Each is written before its public object, so whatever is public was recorded first (records are never deleted:
the role that writes them may not delete private objects, and ``repair`` restores only what the publisher's own
records list as published): ``repair`` rebuilds a
missing, damaged or tampered public object from its record, and the change feed's next number comes from the
highest change object ever recorded, never from the (possibly lost) manifest alone.
"""

from __future__ import annotations

import re

from ..keys import CHANGES_PREFIX, PUBLIC_RECORD_PREFIX, public_record_key
from ..ports import BlobStore

_CHANGE_NUMBER = re.compile(r"([0-9]{8})\.json")


class PublicRecords:
    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def record(self, key: str, data: bytes) -> None:
        """Record ``key``'s bytes before they are made public."""
        self.store.write(public_record_key(key), data)

    def recorded(self, key: str) -> bytes | None:
        return self.store.read(public_record_key(key))

    def keys(self, prefix: str) -> list[str]:
        """The public keys recorded under ``prefix`` (one LIST)."""
        listing = self.store.md5_listing(public_record_key(prefix))
        return sorted(k[len(PUBLIC_RECORD_PREFIX) :] for k in listing)

    def highest_change(self) -> int:
        """The number of the highest change object ever recorded (0: none)."""
        numbers = [
            int(m.group(1))
            for key in self.keys(CHANGES_PREFIX)
            if (m := _CHANGE_NUMBER.fullmatch(key[len(CHANGES_PREFIX) :]))
        ]
        return max(numbers, default=0)
