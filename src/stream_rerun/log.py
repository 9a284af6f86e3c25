"""JSON-lines logging on stdout. Modules log with `logging.getLogger(__name__)` and pass fields via `extra=`."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from stream_rerun.metrics import EMF_FIELD

_ROOT = "stream_rerun"


class _RunFields(logging.Filter):
    """Adds run_id and table to every record, so each line says which run it belongs to."""

    def __init__(self, run_id: str | None, table: str | None) -> None:
        super().__init__()
        self.run_id = run_id
        self.table = table

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        record.table = self.table
        return True


def configure_logging(level: str = "INFO", run_id: str | None = None, table: str | None = None) -> logging.Logger:
    """(Re)configure the package logger: one JSON object per line on the current stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(message)s %(run_id)s %(table)s",
            rename_fields={"levelname": "level", EMF_FIELD: "_aws"},
            timestamp=True,
            json_ensure_ascii=False,
        )
    )
    handler.addFilter(_RunFields(run_id, table))
    logger = logging.getLogger(_ROOT)
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def always(logger: logging.Logger, message: str, **fields: object) -> None:
    """Log at INFO whatever LOG_LEVEL says: the summary line must reach stdout on every run."""
    record = logger.makeRecord(logger.name, logging.INFO, "(summary)", 0, message, (), None, extra=fields)
    logger.handle(record)
