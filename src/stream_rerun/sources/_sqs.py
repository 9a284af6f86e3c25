"""An SQS queue read as a source's input (FAILED_BATCHES_FROM naming a Lambda on-failure queue): its messages are
received with a visibility timeout that a thread extends while the run works, deleted one by one when the caller
says so, and every message not deleted is made visible again when the run ends, so nothing held is ever lost.

IAM: sqs:ReceiveMessage, sqs:ChangeMessageVisibility, sqs:DeleteMessage (only with DELETE_SETTLED_MESSAGES=true)
and sqs:GetQueueAttributes on the queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream_rerun.errors import aws_call

log = logging.getLogger(__name__)

VISIBILITY_S = 300  # a received message stays hidden this long; the heartbeat renews it every third of that
MAX_MESSAGES = 10_000  # held at once (SQS allows 120,000 in flight): the rest wait for the next run
_EMPTY_RECEIVES = 2  # long-polled receives that bring nothing new before the queue counts as read
_MAX_RECOUNTS = 20  # with a fan-out: how often the visible count may send the reader back to receive
_RESEEN_PAUSE_S = 0.2  # after a receive of messages seen before: less churn on the other workers' messages
FAN_OUT_QUIET_S = 5.0  # with a fan-out: nothing new for this long (another worker may hold a message a moment)


@dataclass(frozen=True)
class Message:
    body: str
    receipt: str
    message_id: str


class Queue:
    """The queue at `url`, read through `client` (an SQS client). Use `receive_all`, then `delete` per message,
    then `release` once (also after a failure: it is safe to call twice)."""

    def __init__(self, url: str, client: Any, visibility_s: int = VISIBILITY_S, every_s: float | None = None) -> None:
        self.url = url
        self.client = client
        self.visibility_s = visibility_s
        self.every_s = visibility_s / 3 if every_s is None else every_s  # how often the heartbeat renews
        self.held: dict[str, Message] = {}  # by message id: received, not deleted, not released
        self.deleted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._extend_forever, name="sqs-visibility", daemon=True)

    def receive_all(
        self, keep: Callable[[Message], bool] = lambda _message: True, fan_out: bool = False
    ) -> list[Message]:
        """Every message the queue gives now (at most MAX_MESSAGES) that `keep` accepts, hidden from other readers
        while held. A message `keep` refuses (another worker's batch) is made visible again at once and never
        deleted. With `fan_out` (other workers read the queue too, each refusing the others' messages for a moment
        while it looks at them), the reader goes on until receives have brought nothing new for FAN_OUT_QUIET_S
        and the queue shows no more visible messages than those it refused (the rest are the other workers' own).
        `keep` may raise: what was received is then released by `release`."""
        aws_call(self.client.get_queue_attributes, "SQS", f"reading queue {self.url}", QueueUrl=self.url,
                 AttributeNames=["ApproximateNumberOfMessages"])  # fmt: skip  # the queue exists and we may read it
        self._heartbeat.start()
        seen: set[str] = set()
        others: set[str] = set()
        quiet = recounts = 0
        news_at, quiet_s = time.monotonic(), FAN_OUT_QUIET_S if fan_out else 0.0
        while len(self.held) < MAX_MESSAGES:
            if quiet >= _EMPTY_RECEIVES and time.monotonic() - news_at >= quiet_s:
                if not fan_out or recounts >= _MAX_RECOUNTS or self._visible() <= len(others):
                    break
                quiet, recounts = 0, recounts + 1
            answer = aws_call(self.client.receive_message, "SQS", f"receiving from {self.url}", QueueUrl=self.url,
                              MaxNumberOfMessages=min(10, MAX_MESSAGES - len(self.held)),
                              VisibilityTimeout=self.visibility_s, WaitTimeSeconds=1)  # fmt: skip
            got = [Message(m["Body"], m["ReceiptHandle"], m["MessageId"]) for m in answer.get("Messages", [])]
            new = [m for m in got if m.message_id not in seen]
            quiet = 0 if new else quiet + 1
            news_at = time.monotonic() if new else news_at
            again = [m for m in got if m.message_id in others]  # refused before: visible again at once
            with self._lock:
                for m in got:
                    if m.message_id not in others:
                        self.held[m.message_id] = m  # a duplicate delivery's newer receipt replaces the older
            seen.update(m.message_id for m in new)
            refused = [m for m in new if not keep(m)]
            with self._lock:
                for m in refused:
                    self.held.pop(m.message_id, None)
            others.update(m.message_id for m in refused)
            self._change(again + refused, 0)
            if got and not new:
                time.sleep(_RESEEN_PAUSE_S)
        if len(self.held) >= MAX_MESSAGES:
            log.warning("queue holds more messages than one run takes: rerun for the rest",
                        extra={"event": "queue_not_drained", "queue": self.url, "held": len(self.held)})  # fmt: skip
        elif fan_out and recounts >= _MAX_RECOUNTS:
            log.warning("queue still shows messages not seen: rerun for the rest",
                        extra={"event": "queue_not_drained", "queue": self.url, "held": len(self.held)})  # fmt: skip
        return list(self.held.values())

    def _visible(self) -> int:
        answer = aws_call(self.client.get_queue_attributes, "SQS", f"reading queue {self.url}", QueueUrl=self.url,
                          AttributeNames=["ApproximateNumberOfMessages"])  # fmt: skip
        return int(answer.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))

    def delete(self, message_id: str) -> None:
        """Remove a message for good (its batch settled)."""
        with self._lock:
            message = self.held.pop(message_id, None)
        if message is None:
            return
        aws_call(self.client.delete_message, "SQS", f"deleting a message of {self.url}", QueueUrl=self.url,
                 ReceiptHandle=message.receipt)  # fmt: skip
        with self._lock:
            self.deleted += 1

    def release(self) -> None:
        """Stop extending, and make every message still held visible again at once (it reappears for the next
        run or reader). Errors are logged, not raised: a message not released reappears when its timeout ends."""
        self._stop.set()
        with self._lock:
            left, self.held = list(self.held.values()), {}
        try:
            self._change(left, 0)
        except Exception as exc:  # noqa: BLE001 - the run's result stands; the messages reappear anyway
            log.warning(f"messages not released: {exc}", extra={"event": "queue_release_failed", "queue": self.url})

    def _extend_forever(self) -> None:
        while not self._stop.wait(self.every_s):
            with self._lock:
                held = list(self.held.values())
            try:
                self._change(held, self.visibility_s)
            except Exception as exc:  # noqa: BLE001 - keep trying: a later renewal may pass
                log.warning(f"visibility not extended: {exc}", extra={"event": "queue_heartbeat_failed"})

    def _change(self, messages: list[Message], seconds: int) -> None:
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(n), "ReceiptHandle": m.receipt, "VisibilityTimeout": seconds}
                       for n, m in enumerate(messages[start : start + 10])]  # fmt: skip
            aws_call(self.client.change_message_visibility_batch, "SQS", f"changing visibility in {self.url}",
                     QueueUrl=self.url, Entries=entries)  # fmt: skip
