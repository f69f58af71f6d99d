"""The pure core: the rules as data, reading, validation, gates, documents, aggregates. No I/O beyond
reading the file it is given; imports nothing but the base modules (errors, clock, keys, ports)."""
