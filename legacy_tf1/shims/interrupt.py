"""Ctrl-C that does not hang while queue runners run.

Python delivers SIGINT to the main thread between bytecodes, but a TF1
script usually sits inside ``Session.run`` (C++, GIL released), for example
blocked on a dequeue. The C-level handler still writes the signal number to
a wakeup pipe (``signal.set_wakeup_fd``), which a watcher thread reads at
once. If the main thread has not reached the runner's KeyboardInterrupt
handler after ``grace_s``, the watcher asks every ``tf.train.Coordinator`` to
stop and closes every open session (which cancels pending runs, so
``Session.run`` returns and the KeyboardInterrupt is raised). If even that
does not help within ``hard_s``, it calls ``on_timeout`` (report) and
``os._exit(130)``. A second Ctrl-C exits at once the same way.

SIGTERM (``kill``, ``timeout``, a CI runner giving up) and the runner's own
``--timeout`` (SIGALRM) go the same way, with :class:`ScriptStopped` raised in
the main thread instead of KeyboardInterrupt; the report is then written and
marked incomplete, and the exit code is 143 (SIGTERM) or 124 (timeout).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_TIMEOUT = 124


class ScriptStopped(BaseException):
    """Raised in the main thread on SIGTERM or when ``--timeout`` expires."""

    def __init__(self, reason: str, exit_code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_code = exit_code


def stop_tensorflow_work() -> int:
    """request_stop() every Coordinator and close every open Session; return how many."""
    coordinator_type, session_type = _tf_types()
    if coordinator_type is None:
        return 0
    stopped = 0
    for obj in gc.get_objects():
        try:
            if isinstance(obj, coordinator_type):
                obj.request_stop()
                stopped += 1
            elif isinstance(obj, session_type) and not getattr(obj, "_closed", True):
                obj.close()
                stopped += 1
        except Exception:  # noqa: BLE001 - best effort while shutting down
            continue
    return stopped


def _tf_types():
    """The Coordinator and BaseSession classes, if TensorFlow was imported at all."""
    if "tensorflow" not in sys.modules:
        return None, None
    from tensorflow.python.client.session import BaseSession
    from tensorflow.python.training.coordinator import Coordinator

    return Coordinator, BaseSession


class InterruptWatcher:
    """Watches for SIGINT from a thread so a blocked ``Session.run`` cannot hang Ctrl-C."""

    def __init__(
        self,
        on_timeout: Callable[[], None],
        *,
        grace_s: float = 2.0,
        hard_s: float = 5.0,
        timeout_s: float | None = None,
        on_stop: Callable[[ScriptStopped], None] | None = None,
    ) -> None:
        self.on_timeout = on_timeout
        self.on_stop = on_stop
        self.timeout_s = timeout_s
        self.stopped: ScriptStopped | None = None  # SIGTERM / timeout, once raised
        self.grace_s = grace_s
        self.hard_s = hard_s
        self.handled = threading.Event()
        self.interrupted = False  # set on the first SIGINT, from the watcher thread
        self._read_fd = self._write_fd = -1
        self._previous_fd = -1
        self._previous_handler = None
        self._thread: threading.Thread | None = None
        self._closing = False

    def start(self) -> None:
        """Install the SIGINT handler and the wakeup pipe; call from the main thread."""
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        # Explicit: a parent that ignored SIGINT would otherwise leave Ctrl-C dead.
        self._previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
        self._previous_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self._previous_term = signal.signal(signal.SIGTERM, self._raise_stopped)
        if self.timeout_s is not None:
            signal.signal(signal.SIGALRM, self._raise_stopped)
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        self._thread = threading.Thread(target=self._watch, name="tf1compat-sigint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Remove the handler and pipe (the watcher thread ends with the pipe)."""
        if self._thread is None:
            return
        self._closing = True
        if self.timeout_s is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGTERM, self._previous_term)
        signal.set_wakeup_fd(self._previous_fd)
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
        os.close(self._write_fd)  # the reader sees EOF and returns
        self._thread = None

    def _watch(self) -> None:
        interrupts = 0
        while True:
            try:
                data = os.read(self._read_fd, 64)
            except OSError:
                return
            if not data:
                with contextlib.suppress(OSError):
                    os.close(self._read_fd)
                return
            if self._closing:
                continue
            before = interrupts
            interrupts += data.count(signal.SIGINT) + data.count(signal.SIGTERM)
            interrupts += data.count(signal.SIGALRM) if self.timeout_s is not None else 0
            self.interrupted = self.interrupted or data.count(signal.SIGINT) > 0
            for signum in (signal.SIGTERM, signal.SIGALRM):
                if signum in data and self.stopped is None:
                    self.stopped = self._stopped_for(signum)
            if before == 0 and interrupts > 0:
                threading.Thread(target=self._escalate, daemon=True).start()
            elif interrupts > 1:
                self._give_up()

    def _stopped_for(self, signum: int) -> ScriptStopped:
        if signum == signal.SIGALRM:
            return ScriptStopped(f"--timeout {self.timeout_s:g} s expired", EXIT_TIMEOUT)
        return ScriptStopped("SIGTERM", EXIT_TERMINATED)

    def _raise_stopped(self, signum, frame) -> None:
        if self.stopped is None:
            self.stopped = self._stopped_for(signum)
        raise self.stopped

    def _escalate(self) -> None:
        if self.handled.wait(self.grace_s):
            return
        stop_tensorflow_work()
        if self.handled.wait(self.hard_s):
            return
        self._give_up()

    def _give_up(self) -> None:
        stopped = self.stopped
        with contextlib.suppress(Exception):
            if stopped is not None and self.on_stop is not None:
                self.on_stop(stopped)
            else:
                self.on_timeout()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(stopped.exit_code if stopped is not None else EXIT_INTERRUPTED)
