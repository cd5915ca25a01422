"""Benchmark the engine on the embedded stack (docs/architecture.md, *Benchmarks*).

    .venv/bin/python bench/engine.py [--quick] [--heavy] [--database-url postgresql://...]
                                     [--workers K] [--threads N] [--chart docs/bench-latency.svg]

Starts its own qstash_dev and app (gunicorn, 1 worker x 16 threads, the production default) on
free loopback ports, with a fresh SQLite database in a temporary directory (or an EMPTY
PostgreSQL database, whose tables it drops again at the end), then measures: the engine's
in-process cost per step (statements, transactions, CPU); step-to-step latency of compose runs
against the bare queue hop and their ratio; throughput of 50 and 200 concurrent runs; the
latency and SQL statements of every page and list with many runs stored (bench/pages.py); peak
memory. Then it restarts the app as K workers x N threads (default 2 x 8) and measures
throughput and memory again. `--heavy` adds 500 concurrent runs. It reports numbers and writes
the latency chart; it asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from qstash import QStash  # noqa: E402

from extensions import db  # noqa: E402
from models import (  # noqa: E402
    Approval,
    PendingPublish,
    Run,
    RunStatus,
    RunStep,
    Trigger,
    Workflow,
    WorkflowStep,
    iso,  # noqa: E402
    utcnow,
)
from bench import pages, step_cost  # noqa: E402
from bench.chart import write_cdf  # noqa: E402
from tests.support.qstash_server import QStashDevProcess, free_port  # noqa: E402
from tests.support.recorder import Recorder  # noqa: E402

TERMINAL = ("completed", "failed", "rejected", "cancelled", "expired", "skipped")
EMAIL, PASSWORD = "bench@example.com", "bench-password-123"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STATUS_MIX = {"completed": 70, "failed": 10, "awaiting_approval": 5, "cancelled": 5, "rejected": 4,
              "skipped": 4, "running": 2}
KEEP_OUT = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MAIL_SERVER")  # no model, no SMTP: the engine alone


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    latency_runs: int = 20
    latency_steps: int = 10
    concurrent_runs: tuple[int, ...] = (50, 200)
    throughput_steps: int = 5
    stored_runs: int = 100_000
    workflows: int = 1_000
    requests: int = 50


QUICK = Sizes(latency_runs=4, latency_steps=5, concurrent_runs=(10, 40), stored_runs=5_000, workflows=100, requests=10)
HEAVY = Sizes(concurrent_runs=(50, 200, 500))


@dataclass
class Stack:
    """The running app and qstash_dev, an API client and a database engine."""

    url: str
    qstash: QStashDevProcess
    app: subprocess.Popen[bytes]
    api: httpx.Client
    engine: sa.Engine
    env: dict[str, str]
    layout: str = ""


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def make_engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine on the app's database, for seeding and for precise timestamps."""
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    return sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})


def flask_cli(env: dict[str, str], *args: str) -> str:
    """Run `flask --app app ARGS`; its stdout, or an error with its stderr."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"flask {args[0]} {args[1]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group we started (gunicorn and its workers); SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Poll /healthz until the app answers 200, or fail with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the app did not come up:\n{log.read_text(errors='replace')[-3000:]}")


def start_stack(tmp: Path, db_url: str, engine: sa.Engine, exits: ExitStack, workers: int, threads: int) -> Stack:
    """qstash_dev, a migrated database with a user and token, and the app under gunicorn."""
    qstash = exits.enter_context(QStashDevProcess(tmp / "q.db", retry_scale=1))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in KEEP_OUT}
    env.update(DATABASE_URL=db_url, APP_BASE_URL=url, QSTASH_URL=qstash.url, QSTASH_TOKEN=qstash.token,
               QSTASH_CURRENT_SIGNING_KEY=qstash.current_key, QSTASH_NEXT_SIGNING_KEY=qstash.next_key,
               SECRET_KEY=secrets.token_hex(32), STEPWISE_ENV="development")
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "users", "create", EMAIL, "--password", PASSWORD)
    token = flask_cli(env, "tokens", "create", EMAIL).strip()
    api = exits.enter_context(httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}))
    stack = Stack(url, qstash, None, api, engine, env)  # type: ignore[arg-type]
    start_app(stack, tmp, workers, threads, exits)
    return stack


def start_app(stack: Stack, tmp: Path, workers: int, threads: int, exits: ExitStack) -> None:
    """(Re)start the app under gunicorn as `workers` processes x `threads` threads."""
    if stack.app is not None:
        stop_group(stack.app)
    port = int(stack.url.rsplit(":", 1)[1])
    log = exits.enter_context(open(tmp / f"app-{workers}x{threads}.log", "wb"))
    # Its own session: Ctrl-C reaches only us, and we stop the whole group in order. No control
    # socket: gunicorn's default one is a single path in $HOME, shared by every gunicorn of the user.
    stack.app = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads), "-b",
         f"127.0.0.1:{port}", "--no-control-socket", "app:create_app()"], cwd=REPO_ROOT, env=stack.env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    exits.callback(stop_group, stack.app)
    stack.layout = f"{workers}x{threads}"
    wait_healthy(stack.url, stack.app, tmp / f"app-{workers}x{threads}.log")


def compose_steps(count: int) -> list[dict[str, Any]]:
    """`count` compose steps, each quoting the previous one's text."""
    return [{"toolName": "compose", "toolInput": {
        "template": f"{{{{ steps[{i - 1}].output.text }}}} > {i}" if i else "step 0"}} for i in range(count)]


def create_workflow(api: httpx.Client, goal: str, steps: list[dict[str, Any]], **extra: Any) -> str:
    """POST /api/workflows; the new workflow's id."""
    response = api.post("/api/workflows", json={"goal": goal, "steps": steps, **extra})
    response.raise_for_status()
    return response.json()["id"]


def start_run(api: httpx.Client, workflow_id: str) -> int:
    """POST /api/workflows/<id>/runs; the run id."""
    response = api.post(f"/api/workflows/{workflow_id}/runs")
    response.raise_for_status()
    return response.json()["runId"]


def wait_runs(engine: sa.Engine, run_ids: list[int], timeout: float) -> None:
    """Poll the database until every run is terminal."""
    runs = Run.__table__
    query = sa.select(sa.func.count()).where(runs.c.id.in_(run_ids), runs.c.status.in_(TERMINAL))
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            done = conn.scalar(query)
        if done == len(run_ids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {len(run_ids)} runs finished within {timeout:.0f}s")
        time.sleep(0.02)


def p50_p99(values: list[float]) -> str:
    """Median and 99th percentile of durations in seconds, as milliseconds."""
    return f"{statistics.median(values) * 1000:.1f} / {percentile(values, 0.99) * 1000:.1f} ms"


def queue_times(q_db: Path) -> dict[str, tuple[float, float]]:
    """Per message id: when qstash_dev accepted it and first sent it (from its own database, ms)."""
    with closing(sqlite3.connect(q_db, timeout=30)) as conn:
        rows = conn.execute("SELECT m.id, m.created_at, MIN(e.time) FROM messages m JOIN events e"
                            " ON e.message_id = m.id AND e.state = 'ACTIVE' GROUP BY m.id").fetchall()
    return {mid: (created / 1000, sent / 1000) for mid, created, sent in rows}


def step_points(engine: sa.Engine, queue: dict[str, tuple[float, float]], run_ids: list[int]) -> list[list[float]]:
    """Per step-to-step gap: finished, next message written, accepted, sent, next step claimed."""
    steps, publishes = RunStep.__table__, PendingPublish.__table__
    with engine.connect() as conn:
        started = {(r, i): at for r, i, at in conn.execute(
            sa.select(steps.c.run_id, steps.c.step_index, steps.c.started_at).where(steps.c.run_id.in_(run_ids)))}
        rows = conn.execute(sa.select(steps.c.run_id, steps.c.step_index, steps.c.finished_at, publishes.c.message_id,
                                      publishes.c.created_at).join(publishes, sa.and_(
            publishes.c.run_id == steps.c.run_id, publishes.c.step_index == steps.c.step_index))
            .where(steps.c.run_id.in_(run_ids))).all()
    return [[done.timestamp(), written.timestamp(), *queue[message], started[(run, index + 1)].timestamp()]
            for run, index, done, message, written in rows]


def measure_hops(client: QStash, handler: Recorder, count: int) -> list[tuple[str, float, float]]:
    """Publish one message at a time to the empty handler: (message id, publish call, arrival)."""
    hops = []
    for _ in range(count):
        seen = len(handler.received("/hop"))
        started = time.time()
        reply = client.message.publish_json(url=f"{handler.url}/hop", body={"hop": seen}, retries=3,
                                            deduplication_id=f"hop-{secrets.token_hex(8)}")
        hops.append((reply.message_id, started, handler.wait_for(seen + 1, path="/hop", timeout=30)[seen].time))
    return hops


def segment_rows(title: str, names: list[str], points: list[list[float]]) -> list[tuple[str, str]]:
    """A total row and one row per segment between consecutive time points."""
    rows = [(title, p50_p99([p[-1] - p[0] for p in points]))]
    return rows + [(f"  {name}", p50_p99([p[i + 1] - p[i] for p in points])) for i, name in enumerate(names)]


def measure_latency(stack: Stack, sizes: Sizes, tmp: Path, chart: Path | None) -> list[tuple[str, str]]:
    """Sequential compose runs, each followed by as many bare hops as it has step-to-step gaps."""
    wid = create_workflow(stack.api, "bench: step latency", compose_steps(sizes.latency_steps))
    client = QStash(stack.qstash.token, base_url=stack.qstash.url, retry=False)
    run_ids, hops = [], []
    with Recorder() as handler:
        wait_runs(stack.engine, [start_run(stack.api, wid)], 60)  # warm-up, not counted
        measure_hops(client, handler, 5)
        for _ in range(sizes.latency_runs):
            run_ids.append(start_run(stack.api, wid))
            wait_runs(stack.engine, run_ids[-1:], 60)
            hops += measure_hops(client, handler, sizes.latency_steps - 1)
    queue = queue_times(tmp / "q.db")
    steps = step_points(stack.engine, queue, run_ids)
    bare = [[started, *queue[message], arrived] for message, started, arrived in hops]
    coarse = "." not in (iso(datetime(2000, 1, 1, 0, 0, 0, 250_000, timezone.utc)) or "")
    source = "API times have 1 s resolution: read from run_steps" if coarse else "from run_steps"
    step_total, hop_total = [p[-1] - p[0] for p in steps], [p[-1] - p[0] for p in bare]
    ratio = (f"{statistics.median(step_total) / statistics.median(hop_total):.2f}x, "
             f"{percentile(step_total, 0.99) / percentile(hop_total, 0.99):.2f}x")
    if chart is not None:
        write_cdf(chart, f"Step-to-step vs bare queue hop ({stack.engine.dialect.name}, gunicorn {stack.layout}, "
                         f"{os.cpu_count()} CPUs)", {"step-to-step": step_total, "bare queue hop": hop_total})
    return segment_rows(f"step-to-step p50 / p99 ({len(steps)} gaps; {source})", [
        "step finished -> next step's message written (completion transaction)",
        "-> accepted by qstash_dev (commit, re-read, SDK publish)", "-> sent (qstash_dev dispatch)",
        "-> next step claimed (HTTP, gunicorn, signature, claim UPDATE)"], steps) + segment_rows(
        f"bare queue hop p50 / p99 ({len(bare)} hops: SDK publish -> empty handler)", [
            "publish call -> accepted", "-> sent (qstash_dev dispatch)", "-> arrived at the handler"], bare) + [
        ("ratio step-to-step / bare hop (p50, p99)", ratio)]


def measure_throughputs(stack: Stack, sizes: Sizes) -> list[tuple[str, str]]:
    """Throughput at each concurrency of `sizes`, on the app's current layout."""
    rows: list[tuple[str, str]] = []
    for runs in sizes.concurrent_runs:
        rows += measure_throughput(stack, runs, sizes.throughput_steps)
    return rows


def measure_throughput(stack: Stack, n: int, steps: int) -> list[tuple[str, str]]:
    """Start `n` runs at once; time from the first POST to the last run's finish, and the CPU it took."""
    wid = create_workflow(stack.api, "bench: throughput", compose_steps(steps))
    app, queue = app_pids(stack), qstash_pids()
    before, machine = [cpu_seconds(app), cpu_seconds(queue)], machine_jiffies()
    started = time.time()
    with ThreadPoolExecutor(min(n, 32)) as pool:
        run_ids = list(pool.map(lambda _: start_run(stack.api, wid), range(n)))
    posted = time.time() - started
    wait_runs(stack.engine, run_ids, 600)
    used = [cpu_seconds(app) - before[0], cpu_seconds(queue) - before[1]]
    total, idle = (after - before for after, before in zip(machine_jiffies(), machine))
    busy = 1 - idle / max(1, total)
    runs = Run.__table__
    with stack.engine.connect() as conn:
        last = conn.scalar(sa.select(sa.func.max(runs.c.finished_at)).where(runs.c.id.in_(run_ids)))
        completed = conn.scalar(sa.select(sa.func.count()).where(runs.c.id.in_(run_ids), runs.c.status == "completed"))
    elapsed = last.replace(tzinfo=timezone.utc).timestamp() - started
    return [(f"throughput, gunicorn {stack.layout}: {n} runs x {steps} compose steps started at once",
             f"{elapsed:.2f} s to finish all ({completed}/{n} completed; the POSTs took {posted:.2f} s)"),
            ("  runs/s, steps/s", f"{n / elapsed:.1f} runs/s, {n * steps / elapsed:.1f} steps/s"),
            ("  CPU per step: app, qstash_dev (POSTs included)",
             f"{used[0] / (n * steps) * 1000:.0f} ms, {used[1] / (n * steps) * 1000:.0f} ms"),
            ("  whole machine busy meanwhile (every process, others' too)", f"{busy:.0%} of {os.cpu_count()} CPUs")]


def seed_runs(engine: sa.Engine, workflow_ids: list[str], count: int) -> int:
    """Bulk-insert `count` runs with copies of their workflow's steps and approvals; the first new id - 1."""
    runs, steps, approvals = Run.__table__, RunStep.__table__, Approval.__table__
    rng, now, tag = random.Random(12), utcnow(), secrets.token_hex(4)  # tag: seeding twice stays unique
    statuses = rng.choices(list(STATUS_MIX), weights=list(STATUS_MIX.values()), k=count)
    first, ran = now - timedelta(minutes=5 * count), timedelta(seconds=20)
    with engine.connect() as conn:
        owners = dict(conn.execute(sa.select(Workflow.__table__.c.id, Workflow.__table__.c.owner_id)
                                   .where(Workflow.__table__.c.id.in_(workflow_ids))).all())
    rows = [{"workflow_id": wid, "owner_id": owners[wid], "conversation_id": f"conv_bench_{tag}_{i}",
             "trigger": Trigger.SCHEDULE, "status": RunStatus(status), "scheduled_for": at, "created_at": at,
             "started_at": at, "finished_at": None if status in ("running", "awaiting_approval") else at + ran,
             "error": "step 2 (compose) failed: bench" if status == "failed" else None,
             "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
            for i, status in enumerate(statuses)
            for at, wid in [(first + timedelta(minutes=5 * i), workflow_ids[i % len(workflow_ids)])]]
    ws = WorkflowStep.__table__
    output = sa.literal({"text": "A week of AI news, composed. " * 6}, steps.c.output.type)
    # Every step copies its run's status (the two enums share those values): mixed, and cheap.
    copy_steps = sa.select(runs.c.id, ws.c.index, ws.c.tool_name, ws.c.tool_input, ws.c.instruction,
                           ws.c.needs_approval, runs.c.status, sa.literal(1), output, runs.c.started_at,
                           runs.c.finished_at, sa.literal(0), sa.literal(0), sa.literal(0.0)
                           ).join_from(runs, ws, ws.c.workflow_id == runs.c.workflow_id)
    decision = sa.case((runs.c.status == "awaiting_approval", "pending"), (runs.c.status == "rejected", "rejected"),
                       else_="approved")
    copy_approvals = sa.select(steps.c.id, runs.c.id, runs.c.owner_id, decision, steps.c.tool_input,
                               sa.literal(now + timedelta(hours=72), approvals.c.expires_at.type), runs.c.created_at
                               ).join_from(steps, runs, runs.c.id == steps.c.run_id).where(
        steps.c.needs_approval.is_(True), runs.c.status.in_(["awaiting_approval", "rejected", "completed"]))
    with engine.begin() as conn:
        floor = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(runs.c.id), 0)))
        for start in range(0, count, 10_000):
            conn.execute(sa.insert(runs), rows[start:start + 10_000])
        conn.execute(sa.insert(steps).from_select(
            ["run_id", "step_index", "tool_name", "tool_input", "instruction", "needs_approval", "status", "attempts",
             "output", "started_at", "finished_at", "prompt_tokens", "completion_tokens", "cost_usd"],
            copy_steps.where(runs.c.id > floor)))
        conn.execute(sa.insert(approvals).from_select(
            ["run_step_id", "run_id", "owner_id", "status", "proposed_input", "expires_at", "created_at"],
            copy_approvals.where(runs.c.id > floor)))
    with engine.connect() as conn:  # what autovacuum (PostgreSQL) or the minute sweep (SQLite) soon does
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    return floor


def login(url: str) -> httpx.Client:
    """A client with a dashboard session: the login form posted with its CSRF token."""
    client = httpx.Client(base_url=url, timeout=60)
    token = CSRF_INPUT.search(client.get("/auth/login").text).group(1)  # type: ignore[union-attr]
    response = client.post("/auth/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"login failed with {response.status_code}")
    return client


def deep_cursor(api: httpx.Client, workflow_id: str, pages: int) -> str:
    """The cursor `pages` pages of 200 runs into the workflow's list."""
    cursor = ""
    for _ in range(max(1, pages)):
        body = api.get(f"/api/workflows/{workflow_id}/runs", params={"limit": 200, "cursor": cursor}).json()
        cursor = body["nextCursor"] or cursor
    return cursor


def measure_reads(stack: Stack, sizes: Sizes, exits: ExitStack, db_url: str) -> list[tuple[str, str]]:
    """Every page and list with `stored_runs` runs and `workflows` workflows in the database."""
    steps = compose_steps(3) + [{"toolName": "send_email", "needsApproval": True, "toolInput": {
        "to": "team@example.com", "subject": "Weekly digest", "body": "{{ steps[2].output.text }}"}}]
    wids = [create_workflow(stack.api, f"bench: stored runs {i}", steps, schedule="0 9 1 1 *") for i in range(4)]
    count = pages.statement_counter(db_url, EMAIL, PASSWORD)
    with stack.engine.connect() as conn:  # before seeding: the pages of what the runs above left
        last_run = conn.scalar(sa.select(sa.func.max(Run.id)))
    few = {page.name: count(page) for page in pages.page_list(wids[0], last_run, "")}
    started = time.time()
    extra = pages.seed_workflows(stack.engine, EMAIL, sizes.workflows - len(wids), steps)
    floor = seed_runs(stack.engine, wids, sizes.stored_runs - len(extra) * pages.RUNS_EACH)
    seed_runs(stack.engine, extra, len(extra) * pages.RUNS_EACH)
    seeded = time.time() - started
    heavy = sizes.stored_runs - len(extra) * pages.RUNS_EACH
    cursor = deep_cursor(stack.api, wids[0], int(heavy / len(wids) * 0.9 / 200))
    session = login(stack.url)
    exits.callback(session.close)
    pending = sizes.stored_runs * STATUS_MIX["awaiting_approval"] // 100
    return [(f"{sizes.stored_runs:,} runs and {sizes.workflows:,} workflows seeded (4 x 4 steps with "
             f"{heavy:,} runs, {len(extra)} with {pages.RUNS_EACH} each; "
             f"mixed statuses, ~{pending:,} pending approvals)", f"in {seeded:.1f} s")] + pages.measure(
        session, stack.api, pages.page_list(wids[0], floor + sizes.stored_runs // 2, cursor), few, count,
        sizes.requests)


def children(pid: int) -> list[int]:
    """Direct children of a process, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            pass  # gone meanwhile
    return found


def app_pids(stack: Stack) -> list[int]:
    """The gunicorn master and its workers."""
    return [stack.app.pid, *children(stack.app.pid)]


def qstash_pids() -> list[int]:
    """Our qstash_dev child process."""
    return [p for p in children(os.getpid()) if b"qstash_dev" in Path(f"/proc/{p}/cmdline").read_bytes()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes used so far."""
    ticks = sum(sum(map(int, Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()[11:13])) for p in pids)
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(all, idle + iowait) CPU time of the whole machine, from /proc/stat."""
    fields = list(map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]))
    return sum(fields), fields[3] + fields[4]


def peak_rss_mb(pids: list[int]) -> float:
    """Sum of VmHWM over these processes, in MiB."""
    peaks = [re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text(), re.M) for p in pids]
    return sum(int(match[1]) for match in peaks if match) / 1024


def measure_memory(stack: Stack, so_far: str) -> list[tuple[str, str]]:
    """Peak RSS of the app (master + workers) and of qstash_dev, over what ran `so_far`."""
    app = app_pids(stack)
    return [(f"peak RSS app, gunicorn {stack.layout}: master + {len(app) - 1} worker(s) (sum of VmHWM), {so_far}",
             f"{peak_rss_mb(app):.0f} MiB (master {peak_rss_mb(app[:1]):.0f} MiB)"),
            (f"peak RSS qstash_dev (VmHWM), {so_far}", f"{peak_rss_mb(qstash_pids()):.0f} MiB")]


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """A plain aligned two-column table."""
    width = max(len(name) for name, _ in rows)
    print(title)
    print(f"{'metric':<{width}}  value\n{'-' * width}  {'-' * 24}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def drop_tables(engine: sa.Engine) -> None:
    """Leave the PostgreSQL database as empty as we found it."""
    db.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def main() -> None:
    """Start the stack, run every measurement, print one table, clean up whatever happens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script works")
    parser.add_argument("--heavy", action="store_true", help="also 500 concurrent runs")
    parser.add_argument("--database-url", help="an empty PostgreSQL database instead of a temporary SQLite file")
    parser.add_argument("--workers", type=int, default=2, help="K for the K workers x N threads layout (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="N for that layout (default 8)")
    parser.add_argument("--chart", type=Path, help="write the latency chart here (SVG)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else HEAVY if args.heavy else Sizes()
    load = os.getloadavg()[0]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the clean-up below runs
    with ExitStack() as exits:
        tmp = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="stepwise-bench-")))
        db_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        engine = make_engine(db_url)
        exits.callback(engine.dispose)
        if args.database_url:
            if sa.inspect(engine).get_table_names():
                sys.exit("bench: --database-url must name an empty database (it is migrated, filled and emptied)")
            exits.callback(drop_tables, engine)
        stack = start_stack(tmp, db_url, engine, exits, 1, 16)
        rows = step_cost.measure(db_url)
        rows += measure_latency(stack, sizes, tmp, args.chart) + measure_throughputs(stack, sizes)
        rows += measure_memory(stack, "latency and throughput runs")
        rows += measure_reads(stack, sizes, exits, db_url) + measure_memory(stack, "the page reads (a login) too")
        start_app(stack, tmp, args.workers, args.threads, exits)
        rows += measure_throughputs(stack, sizes) + measure_memory(stack, "throughput runs")[:1]
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    print_table(f"Stepwise engine benchmark ({'quick' if args.quick else 'heavy' if args.heavy else 'default'}; "
                f"{engine.dialect.name}; gunicorn 1x16, then {args.workers}x{args.threads}; {os.cpu_count()} CPUs, "
                f"{int(memory) // 1024} MiB; load average at start {load:.1f})", rows)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything is stopped and removed by then
        sys.exit(130)
