"""Structured JSON logs through structlog: one object per line, the standard library's records
(``logging.getLogger``, with their ``extra`` fields) and structlog's alike.

The request's id, user and client travel in context variables (``structlog.contextvars``,
bound by the edge middleware and the auth dependencies). The replica is one per process: every
line gets it, from before the first request on. Lines are rendered where they are logged (the
context variables are read there) and written by a background thread (``QueueHandler`` →
``QueueListener``), so the event loop never waits on a slow stdout or disk.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from reference_api.settings import Settings


def configure_logging(settings: Settings) -> logging.handlers.QueueListener:
    replica = settings.replica_id

    def add_replica(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event["replica"] = replica
        return event

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        add_replica,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(default=str, separators=(",", ":")),
        ],
    )
    # The queue's handler renders the line (its prepare() formats the record); the listener's
    # thread only writes it.
    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    to_queue = logging.handlers.QueueHandler(log_queue)
    to_queue.setFormatter(formatter)
    writers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if settings.log_file_path:
        writers.append(logging.FileHandler(settings.log_file_path, encoding="utf-8"))
    listener = logging.handlers.QueueListener(log_queue, *writers, respect_handler_level=False)
    root = logging.getLogger("reference_api")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(to_queue)
    root.setLevel(settings.log_level)
    root.propagate = False
    listener.start()
    return listener
