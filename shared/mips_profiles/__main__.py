"""``python -m mips_profiles`` and the ``mips-profiles`` command (:func:`run`).

The command's modules take a second or more to load (pyarrow, numpy, pandas), longer on a busy machine. A Ctrl-C
or a ``kill`` in that time would raise inside an import: a traceback, or an abort from inside a C extension's
initialisation. :func:`run` ends it instead with one line and 128 + the signal's number, as ``cli.main`` ends an
interrupt of the work itself; nothing has been read or written by then.
"""

import contextlib
import os
import signal
import sys

STARTUP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupted_while_starting(signum: int, frame: object) -> None:
    name = signal.Signals(signum).name
    with contextlib.suppress(OSError):  # a closed stderr still ends with the status
        os.write(2, f"error: interrupted ({name}) while starting: nothing was read or written\n".encode())
    os._exit(128 + signum)


def run() -> int:
    for signum in STARTUP_SIGNALS:
        signal.signal(signum, _interrupted_while_starting)
    from .cli import main  # main takes both signals over before it reads or writes anything

    return main()


if __name__ == "__main__":
    sys.exit(run())
