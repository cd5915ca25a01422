"""Run a computation in a forked child under CPU, memory, wall-time and output limits.

Template renders go through here (docs/architecture.md, *Tools and references*). A Python
thread cannot be stopped from outside, so a render that loops for ever inside a worker thread
would spin past the step's deadline, and every QStash retry would start another. A child process
can be stopped: the kernel ends it at its CPU limit (RLIMIT_CPU), refuses memory past its limit
(RLIMIT_AS), and the parent kills it at the wall-clock deadline. Forking shares the render's
inputs copy-on-write, so nothing is serialised on the way in; only the JSON result comes back.

The child touches nothing but the computation: garbage collection is off (no finaliser of an
inherited database connection may run there) and it leaves with os._exit.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import select
import signal
import time
from typing import Any, Callable

from workflows.errors import RetryableToolError, ToolError

CPU_SECONDS = 2  # of CPU time; a real template needs milliseconds
WALL_SECONDS = 10  # a child still alive then is killed (only an overloaded machine gets here)
MEMORY_BYTES = 256 * 2**20  # address space a render may add to what the process already maps
MAX_RESULT_BYTES = 8 * 2**20  # the JSON the child sends back


class _CpuExceeded(Exception):
    pass


def run_bounded(compute: Callable[[], Any], path: str, what: str = "template") -> Any:
    """compute() in a child process; its JSON-able result, or a ToolError naming `path`."""
    if not hasattr(os, "fork"):  # no fork (Windows): render in-process, with the sandbox's own caps only
        return compute()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        _child(compute, write_fd)
    os.close(write_fd)
    status = 0
    try:
        data, finished = _collect(read_fd, pid)
    finally:
        os.close(read_fd)
        status = _reap(pid)
    if not finished:
        raise RetryableToolError(f"{path}: the {what} did not finish within {WALL_SECONDS} s; the server "
                                 "is busy, it will be tried again")
    return _outcome(data, status, path, what)


def _child(compute: Callable[[], Any], write_fd: int) -> None:
    """Compute under the limits, write one JSON reply, and leave without running any cleanup."""
    try:
        gc.disable()
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
        resource.setrlimit(resource.RLIMIT_AS, (_mapped_bytes() + MEMORY_BYTES, resource.RLIM_INFINITY))
        signal.signal(signal.SIGXCPU, _on_cpu_limit)
        try:
            reply: list[Any] = ["ok", compute()]
        except ToolError as exc:
            reply = ["error", str(exc), exc.field]
        except _CpuExceeded:
            reply = ["cpu"]
        except MemoryError:
            reply = ["memory"]
        except RecursionError:
            reply = ["error", "nested too deeply", None]
        except Exception as exc:  # a bug in a filter or a value we did not foresee
            reply = ["error", f"{type(exc).__name__}: {exc}", None]
        try:
            payload = json.dumps(reply, ensure_ascii=False).encode()
        except MemoryError:
            payload = b'["memory"]'
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view[:65536]):]
    finally:
        os._exit(0)


def _on_cpu_limit(signum: int, frame: Any) -> None:
    raise _CpuExceeded()


def _mapped_bytes() -> int:
    """The address space this process maps now (the child's limit is on top of it)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _collect(read_fd: int, pid: int) -> tuple[bytes, bool]:
    """Read the child's reply until it closes the pipe; (data, False) at the deadline, after killing it."""
    deadline = time.monotonic() + WALL_SECONDS
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([read_fd], [], [], max(0.0, remaining))
        if not ready:
            _kill(pid)
            return b"", False
        chunk = os.read(read_fd, 65536)
        if not chunk:
            return b"".join(chunks), True
        size += len(chunk)
        if size > MAX_RESULT_BYTES:
            _kill(pid)
            return b'["size"]', True
        chunks.append(chunk)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _outcome(data: bytes, status: int, path: str, what: str) -> Any:
    """The child's reply as a value, or the ToolError that says which budget it ran out of."""
    try:
        reply = json.loads(data)
    except ValueError:  # no reply: the kernel ended the child first
        killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        reply = ["cpu"] if killed_by in (signal.SIGXCPU, signal.SIGKILL) else ["memory"]
    kind = reply[0]
    if kind == "ok":
        return reply[1]
    if kind == "error":
        raise ToolError(reply[1], field=reply[2] or path)
    messages = {
        "memory": f"the {what} needs more than {MEMORY_BYTES // 2**20} MB of memory",
        "size": f"the {what}'s result is larger than {MAX_RESULT_BYTES // 2**20} MB",
        "cpu": f"the {what} used more than {CPU_SECONDS} s of CPU time and was stopped",
    }
    raise ToolError(f"{path}: {messages[kind]}", field=path)
