"""Micro-batching: requests that arrive while the model is busy are answered by one forward pass.

A forward pass over 64 histories costs little more than over one, so a server that ran each
request alone would spend its time on per-call overhead. The batcher queues requests; a single
worker takes whatever has queued (up to ``max_batch``), waits at most ``max_wait`` seconds for
more when the queue is short, runs the batch in a worker thread (so the event loop keeps
accepting connections while torch computes) and hands each caller its own answer. Under light
load a request waits at most ``max_wait``; under heavy load batches grow by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")


@dataclass
class BatchStats:
    """What the batcher has done, for `/metadata` and the load benchmark."""

    batches: int = 0
    requests: int = 0
    largest: int = 0
    busy_seconds: float = 0.0


@dataclass
class _Pending(Generic[Request, Answer]):
    request: Request
    answer: asyncio.Future[Answer] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MicroBatcher(Generic[Request, Answer]):
    """Answers requests through ``run(batch) -> answers`` (one answer per request, same order), a batch at a time.

    Args:
        run: Computes the answers of a batch; called in one worker thread, one batch at a time.
            An exception fails every request of that batch with it, and the batcher goes on.
        max_batch: The most requests one call of ``run`` gets.
        max_wait: Seconds the first request of a batch waits for others to join it.
    """

    def __init__(self, run: Callable[[Sequence[Request]], Sequence[Answer]], max_batch: int = 64, max_wait: float = 0.002):
        if max_batch < 1 or max_wait < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait >= 0, got {max_batch} and {max_wait}")
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Pending[Request, Answer]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recdiff-batch")

    async def start(self) -> None:
        """Start the worker on the running event loop (a server's start-up)."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Stop the worker; requests still queued fail with a CancelledError (a server's shutdown)."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            self._queue.get_nowait().answer.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, request: Request) -> Answer:
        """The answer to ``request``, computed in a batch with whatever else is waiting."""
        if self._queue is None or self._worker is None:
            raise RuntimeError("MicroBatcher.start() must run before submit()")
        pending: _Pending[Request, Answer] = _Pending(request)
        self._queue.put_nowait(pending)
        return await pending.answer

    async def _serve(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(self._queue)
            live = [pending for pending in batch if not pending.answer.done()]  # a caller may have gone
            if not live:
                continue
            started = time.perf_counter()
            try:
                answers = await loop.run_in_executor(self._executor, self.run, [pending.request for pending in live])
            except Exception as error:  # the batch's callers get the error; the server keeps serving
                for pending in live:
                    if not pending.answer.done():
                        pending.answer.set_exception(error)
                continue
            finally:
                self._count(len(live), time.perf_counter() - started)
            for pending, answer in zip(live, answers, strict=True):
                if not pending.answer.done():
                    pending.answer.set_result(answer)

    async def _collect(self, queue: asyncio.Queue[_Pending[Request, Answer]]) -> list[_Pending[Request, Answer]]:
        """The next batch: everything queued (up to max_batch), after waiting up to max_wait for more to arrive."""
        batch = [await queue.get()]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    def _count(self, size: int, seconds: float) -> None:
        self.stats.batches += 1
        self.stats.requests += size
        self.stats.largest = max(self.stats.largest, size)
        self.stats.busy_seconds += seconds
