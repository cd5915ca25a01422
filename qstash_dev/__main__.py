"""`python -m qstash_dev`: run the server until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from .service import QStashDev
from .config import load_config


def main(argv: list[str] | None = None) -> int:
    """Start, log one line, wait for a signal, shut down cleanly."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per delivery is noise
    config = load_config(argv)
    try:
        server = QStashDev(config)
    except OSError as exc:
        print(f"qstash_dev: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        """Ask the main thread to stop."""
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    print(server.describe(), flush=True)
    while not stop.wait(1.0):
        pass
    server.stop()
    logging.getLogger("qstash_dev").info("qstash_dev stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
