"""`python -m stream_rerun`: load settings, preflight, run, print the summary, map the result to an exit code."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from stream_rerun.aws import cloudwatch_client, dynamodb_client, lambda_client, s3_client
from stream_rerun.capacity import RunBudget, WriteBudget
from stream_rerun.config import Settings, load_settings
from stream_rerun.consumer_lag import POLL_INTERVAL_S, ConsumerLag
from stream_rerun.consumers import Consumers
from stream_rerun.engine import Engine
from stream_rerun.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, ConfigError, RerunError
from stream_rerun.filters import ItemFilter
from stream_rerun.limits import check_statement
from stream_rerun.log import always, configure_logging
from stream_rerun.metrics import Emf
from stream_rerun.redrive import RedriveFile, location_of
from stream_rerun.retry import RetryPolicy
from stream_rerun.sources import Report, Source, finish, source_for
from stream_rerun.stopping import Interrupted, Signals
from stream_rerun.table import TableInfo, describe
from stream_rerun.touch import Toucher
from stream_rerun.version import fields as version_fields

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger("stream_rerun")
YOUNG_THRESHOLD = 10_000  # allocations between collections of the young generation while the run lasts (_heap_frozen)


def main() -> int:
    """Entry point of the worker; returns the process exit code."""
    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error(str(exc), extra={"event": "config_error", "exit_code": EXIT_CONFIG})
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.run_id, settings.table_name)
    return run(settings)


def run(
    settings: Settings,
    client: DynamoDBClient | None = None,
    retry: RetryPolicy | None = None,
    *,
    lag_poll_s: float = POLL_INTERVAL_S,
) -> int:
    """Preflight and run one key source; `client` lets tests pass their own (fault-injecting) client, used for reads
    and writes alike. Otherwise the touches go through a client of their own that never resends (aws.py).
    `lag_poll_s`: how often the consumers' IteratorAge is read (tests shorten it).
    SIGTERM and SIGINT are handled from the start: one during preflight ends it at once (nothing written yet)."""
    signals = Signals()
    with signals.installed():
        return _run(settings, client, retry, signals, lag_poll_s)


def _run(
    settings: Settings, client: DynamoDBClient | None, retry: RetryPolicy | None, signals: Signals, lag_poll_s: float
) -> int:
    source: Source | None = None
    try:
        with signals.preflight():
            writer = client or dynamodb_client(settings.aws_region, settings.concurrency + 4, writes=True)
            client = client or dynamodb_client(settings.aws_region, settings.concurrency + 4)
            table = describe(settings, client)
            s3 = functools.cache(lambda: s3_client(settings.aws_region))  # made on first use: only for s3:// files
            only = ItemFilter.of(settings.filter_attribute, settings.filter_values)
            check_statement(settings, table, client, only)  # limits.py: DynamoDB's 8,192 characters
            consumers = Consumers.preflight(settings, table, client, lambda_client(settings.aws_region))  # who sees it
            source = source_for(settings, table, client, s3, only)
            source.check()
            budget = RunBudget.of(settings, table)
            redrive = _redrive_file(settings, s3)
    except RerunError as exc:
        if source is not None:
            finish(source)  # what it holds (a queue's messages) is released
        log.error(str(exc), extra={"event": "preflight_failed", "exit_code": exc.exit_code})
        return exc.exit_code
    except Interrupted as stop:
        engine = Engine(None, settings.concurrency)
        engine.interrupt(stop.signum)
        return _summarise(settings, engine, redrive=None, budget=None, emf=Emf("", "", ""), source=source)
    toucher = Toucher(writer, table, settings.revision_attribute, settings.marker, settings.run_id, only=only)
    retry = retry or RetryPolicy(stall_s=settings.max_stall_seconds)
    write_budget = WriteBudget(budget.wcu_per_item, budget.wcu_cap, settings.max_items_per_second,
                               resource_caps=budget.resource_caps, resource_units=budget.resource_units)  # fmt: skip
    emf = Emf(settings.metrics_namespace, settings.table_name, settings.metrics_environment, wcu_cap=budget.wcu_cap)
    lag = ConsumerLag.of(settings, consumers.watched, lambda: cloudwatch_client(settings.aws_region),
                         mappings=consumers.mappings(), on_resume=write_budget.paused,
                         interval_s=lag_poll_s)  # fmt: skip
    engine = Engine(None if settings.dry_run else toucher, settings.concurrency, write_budget, retry, emf,
                    unsettled=redrive.add if redrive else None, settled=getattr(source, "settled", None),
                    gate=lag)  # fmt: skip
    consumers.warn()  # after the whole preflight: a refused run stays one line
    started = {**_describe_run(settings, table, source), **budget.describe(), **version_fields()}
    started["consumers"] = consumers.describe()
    log.info("run started", extra={"event": "run_started", **started})
    signals.attach(engine)
    try:
        # MAX_CONSUMER_LAG_SECONDS: IteratorAge read before the first write, then once a minute
        with lag.watching(), _heap_frozen():
            engine.run(source.pages(), distinct=getattr(source, "distinct_pages", False))
    except Exception as exc:  # noqa: BLE001 - a bug must still end in a summary and exit 1, not a traceback
        engine.abort(RerunError(f"unexpected {type(exc).__name__}: {exc}"))
    return _summarise(settings, engine, redrive=redrive, budget=budget, emf=emf, source=source, consumers=consumers,
                      lag=lag)  # fmt: skip


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep the heap preflight built (the modules, botocore's service models, the clients: hundreds of thousands of
    objects that live as long as the run) out of the garbage collector's passes while the run lasts; its full passes
    walked all of it over and over, a few per cent of the CPU of a long run (bench/results.md). The young generation
    is collected every YOUNG_THRESHOLD allocations instead of 700: at 700 a collection came every few requests and
    walked the objects of the requests in flight each time (about 0.2 ms apiece, 170 in a 20,000-item run). Both are
    undone afterwards, so that a process that runs again (the tests) collects as before."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _summarise(
    settings: Settings,
    engine: Engine,
    *,
    redrive: RedriveFile | None,
    budget: RunBudget | None,
    emf: Emf,
    source: Source | None,
    consumers: Consumers | None = None,
    lag: ConsumerLag | None = None,
) -> int:
    """Put the re-drive file in place, let the source finish (its own counters and files), print the summary line;
    the exit code."""
    redrive_fields, redrive_error = _close_redrive(redrive, engine)
    # what the source settled itself (never written) and wrote, e.g. removed_in_window; a queue's messages released
    report = finish(source) if source is not None else Report()
    code = exit_code(engine)
    if (redrive_error or report.error) and code == EXIT_OK:
        code = EXIT_FAILED
    summary = {"event": "summary", "dry_run": settings.dry_run, **engine.rates(), **redrive_fields, **report.fields}
    summary.update(lag.summary(read_metrics=engine.signal is None) if lag else {})  # per consumer: paused, age, errors
    summary.update(interrupted=engine.signal is not None, exit_code=code)
    if settings.dry_run and budget is not None:
        summary.update(budget.estimate(summary["selected"], settings.max_items_per_second))
    if settings.dry_run and consumers is not None:  # who would see it, and how often they would be invoked
        summary.update(consumers=consumers.describe(), **consumers.estimate(summary["selected"]))
    summary.update(report.outcomes, selected=summary["selected"] + sum(report.outcomes.values()))
    if engine.abort_error is not None or redrive_error or report.error:
        summary["error"] = "; ".join(str(e) for e in (engine.abort_error, redrive_error, report.error) if e)
    always(log, "summary", **summary, **emf.fields(summary))
    return code


def _redrive_file(settings: Settings, s3: Callable[[], Any]) -> RedriveFile | None:
    location = location_of(settings)
    return None if location is None or settings.dry_run else RedriveFile(location, s3)


def _close_redrive(redrive: RedriveFile | None, engine: Engine) -> tuple[dict[str, Any], RerunError | None]:
    """Put the re-drive file in place; the summary's fields about it, and the error when it could not be."""
    if redrive is None:
        return {}, None
    fields = {"failed_keys_out": redrive.location, "failed_keys_written": redrive.count,
              "selection_read_to_end": engine.read_to_end}  # fmt: skip
    try:
        redrive.close()
    except RerunError as exc:
        log.error(str(exc), extra={"event": "failed_keys_out_error"})
        return {**fields, "failed_keys_out": None}, exc
    return fields, None


def exit_code(engine: Engine) -> int:
    """128+signal when interrupted; 1 when an item failed or was left unprocessed, or the run aborted; else 0."""
    if engine.signal is not None:
        return 128 + engine.signal
    if engine.abort_error is not None or engine.counters.failed or engine.counters.unprocessed:
        return EXIT_FAILED
    return EXIT_OK


def _describe_run(settings: Settings, table: TableInfo, source: Source) -> dict[str, Any]:
    return {
        **source.describe(),  # selection, selected_total (None when unknown before the run), selected_total_approximate
        "key_schema": list(table.key_names),
        "stream": table.stream,
        "dry_run": settings.dry_run,
        "concurrency": settings.concurrency,
        "max_items_per_second": settings.max_items_per_second,
        "max_wcu_per_second": settings.max_wcu_per_second,
        "filter": {settings.filter_attribute: list(settings.filter_values)} if settings.filter_values else None,
        "failed_keys_out": location_of(settings),
    }


if __name__ == "__main__":
    raise SystemExit(main())
