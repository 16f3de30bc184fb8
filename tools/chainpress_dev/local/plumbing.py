"""Small pieces the event sources share: doorbells, async invocation with retries, idleness."""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from chainpress_dev.local.functions import FunctionError, LocalFunction

Reporter = Callable[[str], None]


class Doorbell:
    """Wakes a poller early; the poller still polls on a timer, so a missed ring only delays."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def ring(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)

    def answer(self) -> None:
        """Called just before looking: a ring from now on means "look again"."""
        self._event.clear()


class Poller:
    """A thread that runs ``poll_once`` whenever its doorbell rings, or every ``interval`` s.

    ``passes`` counts completed polls, so :meth:`LocalStack.wait_idle` can tell that a poll
    started after a given moment has finished.
    """

    def __init__(
        self, name: str, interval: float, report: Reporter, *, min_interval: float = 0.2
    ) -> None:
        self.name = name
        self.interval = interval
        # A burst of writes rings many times; polling more often than this only steals CPU
        # (the GIL) from the functions doing the work.
        self.min_interval = min_interval
        self.doorbell = Doorbell()
        self.passes = 0
        self._report = report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._passes_changed = threading.Condition()

    def poll_once(self) -> None:
        raise NotImplementedError

    def busy(self) -> bool:
        return False

    def next_wait(self) -> float:
        """Seconds until the next poll if the doorbell does not ring first."""
        return self.interval

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.doorbell.ring()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait_passes(self, target: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._passes_changed:
            while self.passes < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._passes_changed.wait(min(left, 0.5))
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.doorbell.answer()
            try:
                self.poll_once()
            except Exception as exc:  # keep polling: the endpoint may be restarting
                if not self._stop.is_set():
                    self._report(f"{self.name}: poll failed: {exc!r}")
            with self._passes_changed:
                self.passes += 1
                self._passes_changed.notify_all()
            self.doorbell.wait(self.next_wait())
            rest = self.min_interval - (time.monotonic() - started)
            if rest > 0 and not self._stop.is_set():
                self._stop.wait(rest)


class AsyncInvoker:
    """Lambda's asynchronous invocation: a queue, one warm container, retries after errors.

    Lambda retries a failed asynchronous event twice (after about 1 and 2 minutes) and then
    sends it to the on-failure destination. Locally the delays are seconds, and the
    "destination" is the console.
    """

    def __init__(
        self,
        function: LocalFunction,
        report: Reporter,
        *,
        retries: int = 2,
        delays: tuple[float, ...] = (1.0, 2.0),
        after: Callable[[dict[str, Any], Any, float], None] | None = None,
        describe: Callable[[dict[str, Any]], str] = lambda event: "event",
    ) -> None:
        self.function = function
        self.retries = retries
        self.delays = delays
        self._report = report
        self._after = after
        self._describe = describe
        self._queue: queue.Queue[tuple[dict[str, Any], int] | None] = queue.Queue()
        self._delayed: list[tuple[float, int, dict[str, Any], int]] = []
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._timer_stop = threading.Event()
        self._stopping = threading.Event()
        self._timer: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"invoke-{self.function.logical_id}", daemon=True
        )
        self._thread.start()
        self._timer = threading.Thread(
            target=self._release_delayed, name=f"retry-{self.function.logical_id}", daemon=True
        )
        self._timer.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drop what is queued, let a running invocation finish (up to ``timeout``)."""
        self._timer_stop.set()
        self._stopping.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        for thread in (self._thread, self._timer):
            if thread is not None:
                # A daemon thread: a handler still running after the timeout ends with the
                # process (its requests fail once the endpoint is gone).
                thread.join(timeout=timeout)

    def submit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._in_flight += 1
        self._queue.put((event, 0))

    def busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, attempt = item
            retry = False
            if self._stopping.is_set():
                continue
            try:
                began = time.monotonic()
                result = self.function.invoke(event)
                self.delivered += 1
                if self._after is not None:
                    self._after(event, result, time.monotonic() - began)
            except FunctionError as exc:
                if self._stopping.is_set():
                    pass  # the endpoint is going away: nothing to retry or report
                elif attempt < self.retries:
                    retry = True
                    delay = self.delays[min(attempt, len(self.delays) - 1)]
                    self._report(f"{exc}\n  -> retrying in {delay:g} s")
                    with self._lock:
                        heapq.heappush(
                            self._delayed,
                            (time.monotonic() + delay, next(self._counter), event, attempt + 1),
                        )
                else:
                    self.failed += 1
                    self._report(
                        f"{exc}\n  -> gave up on {self._describe(event)} after "
                        f"{attempt + 1} attempts (Lambda would send it to the failure queue)"
                    )
            except Exception as exc:  # a bug in the `after` hook must not stop the queue
                self._report(f"{self.function.logical_id}: after-invoke hook failed: {exc!r}")
            finally:
                if not retry:
                    with self._lock:
                        self._in_flight -= 1

    def _release_delayed(self) -> None:
        while not self._timer_stop.wait(0.1):
            now = time.monotonic()
            with self._lock:
                while self._delayed and self._delayed[0][0] <= now:
                    _, _, event, attempt = heapq.heappop(self._delayed)
                    self._queue.put((event, attempt))
