"""The engine: one scheduler thread and a bounded pool of delivery workers.

The scheduler sleeps on a condition variable until the next message or schedule
is due, or until something changes (a publish, a finished attempt, a resumed
queue) wakes it. It never polls in a busy loop. Workers are daemon threads, so a
destination that hangs cannot keep the process from stopping; whatever was in
flight is still `active` in SQLite and is delivered again after a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from . import claims, flow, messages, schedules
from .config import Config
from .db import Database
from .delivery import Deliverer
from .messages import Attempt

__all__ = ["Engine"]

log = logging.getLogger("qstash_dev")

MAX_IDLE_SECONDS = 60.0  # a safety net only; every change wakes the scheduler at once
PRUNE_EVERY_SECONDS = 3600.0  # at most; a short --retention prunes more often
STOP_GRACE_SECONDS = 2.0


class Engine:
    """Fires schedules and hands due messages to the workers."""

    def __init__(self, db: Database, config: Config) -> None:
        self._db = db
        self._config = config
        self._deliverer = Deliverer(db, config)
        self._cond = threading.Condition()
        self._changed = False
        self._stopping = False
        self._in_flight = 0
        self._tasks: queue.SimpleQueue[Attempt | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._last_prune = 0.0
        self._prune_every = min(PRUNE_EVERY_SECONDS, max(0.5, config.retention / 2))

    def start(self) -> None:
        """Recover in-flight attempts from a previous run, then start the threads."""
        with self._db.write() as conn:
            recovered = messages.reset_in_flight(conn)
        if recovered:
            log.info("redelivering %d attempt(s) that were in flight when the server stopped", recovered)
        self._threads = [threading.Thread(target=self._schedule_loop, name="qstash-scheduler", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"qstash-worker-{i}", daemon=True)
                          for i in range(self._config.workers)]
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Tell the scheduler something changed (call after the commit)."""
        with self._cond:
            self._changed = True
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop scheduling, give attempts in flight a moment, then let them go."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for _ in range(self._config.workers):
            self._tasks.put(None)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _schedule_loop(self) -> None:
        """Fire, claim, sleep until the next due time or a change; repeat."""
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._changed = False
            try:
                timeout = self._pass()
            except Exception:  # keep scheduling whatever one pass hit (e.g. a locked database)
                log.exception("scheduler pass failed")
                timeout = 1.0
            with self._cond:
                if not self._changed and not self._stopping:
                    self._cond.wait(timeout)

    def _pass(self) -> float:
        """One round of work; returns how long to sleep."""
        now = time.time()
        with self._cond:
            free = self._config.workers - self._in_flight
        with self._db.write() as conn:
            schedules.fire_due(conn, now)
            attempts = claims.claim_due(conn, now, free) if free > 0 else []
            if now - self._last_prune > self._prune_every:
                messages.prune(conn, now, self._config.retention)
                flow.prune(conn, now, self._config.retention)
                self._last_prune = now
        with self._cond:
            self._in_flight += len(attempts)
        for attempt in attempts:
            self._tasks.put(attempt)
        with self._db.read() as conn:
            due = [t for t in (claims.next_due_time(conn, now), schedules.next_fire_time(conn),
                               self._last_prune + self._prune_every) if t]
        wait = min(due, default=now + MAX_IDLE_SECONDS) - time.time()
        return min(MAX_IDLE_SECONDS, max(0.0, wait))

    def _work(self) -> None:
        """A worker: make attempts until told to stop."""
        while True:
            attempt = self._tasks.get()
            if attempt is None:
                return
            try:
                self._deliverer.attempt(attempt)
            except Exception:
                log.exception("attempt of %s failed inside qstash_dev; retrying it shortly", attempt.id)
                self._release(attempt)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._changed = True
                    self._cond.notify_all()

    def _release(self, attempt: Attempt) -> None:
        """Put a message whose outcome could not be recorded back in line."""
        try:
            with self._db.write() as conn:
                conn.execute("UPDATE messages SET state = 'pending', attempt_token = NULL, next_attempt_at = ?"
                             " WHERE id = ? AND attempt_token = ?", (time.time() + 1, attempt.id, attempt.token))
        except Exception:
            log.exception("could not release %s; it is redelivered after a restart", attempt.id)
