"""SQLAlchemy models and status enums (docs/architecture.md, *Data*).

Enums are stored as plain strings (`native_enum=False`) so migrations stay simple on PostgreSQL.
Timestamps are stored as naive UTC and handed to Python as aware UTC datetimes.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Optional

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db


# Ids are sa.Integer: 32-bit on PostgreSQL. A larger number from a client is a missing id, never a
# query (PostgreSQL answers "integer out of range"); blueprints/routing.py and cursors check it.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def iso(value: datetime | None, timespec: str = "milliseconds") -> str | None:
    """ISO 8601 UTC with a Z (the API's timestamps); a naive datetime is taken to be UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


class UTCDateTime(sa.types.TypeDecorator):
    """Store naive UTC on every database; always return aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def _enum(enum_cls: type[StrEnum]) -> sa.Enum:
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class RunStatus(StrEnum):
    PENDING = "pending"  # created; its first step message is queued (or it waits its turn: queue)
    RUNNING = "running"  # a step has been claimed
    AWAITING_APPROVAL = "awaiting_approval"  # paused on a step that needs a person's OK
    COMPLETED = "completed"  # every step completed
    FAILED = "failed"  # a step failed for good (or QStash gave up on it)
    REJECTED = "rejected"  # a person rejected a step; the rest were skipped
    CANCELLED = "cancelled"  # cancelled by its owner
    EXPIRED = "expired"  # an approval was not decided in time
    SKIPPED = "skipped"  # a tick the overlap policy did not run
    SUPERSEDED = "superseded"  # still awaiting approval when the next tick came (overlap supersede)
    PAUSED_BUDGET = "paused_budget"  # the cost guard stopped it before a model call; resumable


RUN_FINISHED = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.REJECTED, RunStatus.CANCELLED,
     RunStatus.EXPIRED, RunStatus.SKIPPED, RunStatus.SUPERSEDED}
)


class StepStatus(StrEnum):
    PENDING = "pending"  # not claimed yet, or given back for a retry
    RUNNING = "running"  # claimed by an attempt holding a live lease
    AWAITING_APPROVAL = "awaiting_approval"  # proposed input waits for a decision
    COMPLETED = "completed"  # the tool ran and its result is stored
    FAILED = "failed"  # an error no retry can change, or retries exhausted
    REJECTED = "rejected"  # its approval was rejected
    SKIPPED = "skipped"  # an earlier step ended the run
    CANCELLED = "cancelled"  # the run was cancelled before it ran
    EXPIRED = "expired"  # its approval expired


class ApprovalStatus(StrEnum):
    PENDING = "pending"  # waiting for the first decision
    APPROVED = "approved"  # run the (possibly edited) decided input
    REJECTED = "rejected"  # the run ends
    REVISE = "revise"  # changes requested: the agent proposes again, a new approval follows
    EXPIRED = "expired"  # nobody decided before expires_at
    CANCELLED = "cancelled"  # the run was cancelled while it waited
    SUPERSEDED = "superseded"  # the next tick started a fresh run instead (overlap supersede)


class Overlap(StrEnum):
    SKIP = "skip"  # a tick while a run is active records a skipped run
    QUEUE = "queue"  # one run may wait behind the active one; later ticks are skipped
    ALLOW = "allow"  # every tick starts a run
    SUPERSEDE = "supersede"  # a tick ends a run still awaiting approval and starts a fresh one


class Trigger(StrEnum):
    MANUAL = "manual"  # "Run now" in the dashboard
    API = "api"  # POST /api/workflows/<id>/runs with a token
    SCHEDULE = "schedule"  # a QStash schedule tick


class Channel(StrEnum):
    APP = "app"  # the dashboard's inline buttons
    EMAIL = "email"  # the emailed link
    API = "api"  # POST /api/approvals/<id>


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # written; not sent yet (or no SMTP server configured)
    SENT = "sent"  # the SMTP server accepted it
    FAILED = "failed"  # every try failed; the error is kept


# scrypt with N=2^13, r=8, p=10: one of OWASP's equivalent scrypt settings, holding 8 MiB while it
# hashes. Werkzeug's default (N=2^15, r=8, p=1) holds 32 MiB, so every login raised the serving
# process's peak memory by 32 MiB (and 16 threads logging in at once by 512). Hashes made with
# other settings keep verifying: each hash names its method.
PASSWORD_HASH = "scrypt:8192:8:10"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # IANA zone the dashboard and emails show times in; None: the browser's zone (or UTC).
    timezone: Mapped[Optional[str]] = mapped_column(sa.String(64))
    # Where notifications go once verified; None: the account email.
    notification_email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    # An address waiting for its verification link to be opened (never mailed otherwise).
    pending_notification_email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    notify_on_failure: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    notify_on_completion: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    # The key of the session this request rides on (set by the user loader, not a column):
    # Flask-Login stores get_id() in the session and the remember-me cookie.
    session_key = None  # type: str | None

    def get_id(self) -> str:
        """'<user id>:<session key>': a cookie is worth nothing once its session row is gone."""
        return f"{self.id}:{self.session_key}"

    @property
    def notify_address(self) -> str:
        """Where Stepwise mails this user: the verified notification address, else the account's."""
        return self.notification_email or self.email

    def set_password(self, password: str) -> None:
        """Hash and store a new password."""
        self.password_hash = generate_password_hash(password, PASSWORD_HASH)

    def check_password(self, password: str) -> bool:
        """True when `password` matches the stored hash."""
        return check_password_hash(self.password_hash, password)


class UserSession(db.Model):
    """One logged-in browser. Logging out deletes it, so a copied cookie stops working."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the key the cookies carry: a copy of the database opens no session.
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LoginAttempt(db.Model):
    """Failed logins and password-reset requests, kept in the database so throttling works
    across instances."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="login", server_default="login")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


def new_workflow_id() -> str:
    """A short random id; it appears in QStash dedup ids, so it stays URL- and header-safe."""
    return secrets.token_hex(8)


class Workflow(db.Model):
    __tablename__ = "workflows"
    # The order of the owner's list (newest first), so it is read in index order, never sorted.
    __table_args__ = (sa.Index("ix_workflows_owner_created", "owner_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_workflow_id)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    goal: Mapped[str] = mapped_column(sa.Text)
    schedule: Mapped[Optional[str]] = mapped_column(sa.String(120))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    qstash_schedule_id: Mapped[Optional[str]] = mapped_column(sa.String(80))
    paused: Mapped[bool] = mapped_column(default=False)
    overlap: Mapped[Overlap] = mapped_column(_enum(Overlap), default=Overlap.SKIP)
    # The run that overlap checks against and the one run waiting behind it (overlap=queue);
    # both change only through conditional UPDATEs, so concurrent ticks cannot both win.
    active_run_id: Mapped[Optional[int]] = mapped_column()
    queued_run_id: Mapped[Optional[int]] = mapped_column()
    # Monthly budget in USD for model calls (None: no budget); see workflows/engine/cost_guard.py.
    budget_usd: Mapped[Optional[float]] = mapped_column(sa.Float)
    # Set whenever QStash's schedule may disagree with this row: committed before a change asks
    # QStash, or in the cost guard's pausing transaction; cleared once QStash holds this row's
    # state. One left set past a minute is repaired by the sweep (workflows/engine/schedules.py;
    # docs/architecture.md, *Schedules and the cron/DST rule*).
    schedule_changing_since: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship()
    steps: Mapped[list[WorkflowStep]] = relationship(
        order_by="WorkflowStep.index", cascade="all, delete-orphan", back_populates="workflow"
    )


class StepDefinition:
    """The columns that define a step: a workflow's step, and the copy a run takes of it."""

    tool_name: Mapped[str] = mapped_column(sa.String(64))
    # JSON; string values may be templates referring to earlier steps' outputs.
    tool_input: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    instruction: Mapped[Optional[str]] = mapped_column(sa.Text)  # for the step agent
    needs_approval: Mapped[bool] = mapped_column(default=False)


class WorkflowStep(StepDefinition, db.Model):
    __tablename__ = "workflow_steps"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(sa.ForeignKey("workflows.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column()

    workflow: Mapped[Workflow] = relationship(back_populates="steps")


class Run(db.Model):
    __tablename__ = "runs"
    __table_args__ = (
        sa.UniqueConstraint("workflow_id", "scheduled_for"),
        sa.Index("ix_runs_workflow_id_id", "workflow_id", "id"),  # a workflow's runs, newest first
        # A month's spend of one workflow, read from the index alone (the cost guard).
        sa.Index("ix_runs_workflow_created_cost", "workflow_id", "created_at", "cost_usd"),
        sa.Index("ix_runs_owner_id_id", "owner_id", "id"),  # /runs, newest first
        sa.Index("ix_runs_owner_id_status_id", "owner_id", "status", "id"),  # /runs?status=
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(
        sa.ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    # The workflow's owner, copied when the run is created (workflows never change hands), so
    # the owner's lists are read in the order of an index instead of joining every run of every
    # workflow and sorting. Nullable only because SQLite cannot add a NOT NULL column to a
    # filled table without rebuilding it; every insert sets it (owner_from_workflow below).
    owner_id: Mapped[int] = mapped_column(nullable=True)
    conversation_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    trigger: Mapped[Trigger] = mapped_column(_enum(Trigger))
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.PENDING, index=True)
    scheduled_for: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    trigger_message_id: Mapped[Optional[str]] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    error: Mapped[Optional[str]] = mapped_column(sa.Text)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(sa.Float, default=0.0)
    # How often the owner retried the failed step / resumed after a budget pause: the n of the
    # step message's dedup id (`…-retry-{n}`, `…-resume-{n}`), new each time.
    retry_count: Mapped[int] = mapped_column(default=0, server_default="0")
    resume_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # The run of the tick that superseded this one (overlap supersede). No foreign key, like the
    # workflow's active_run_id: runs go only with their workflow, all at once.
    superseded_by_id: Mapped[Optional[int]] = mapped_column()

    workflow: Mapped[Workflow] = relationship()
    steps: Mapped[list[RunStep]] = relationship(
        order_by="RunStep.step_index", cascade="all, delete-orphan", back_populates="run"
    )
    superseded_by: Mapped[Optional[Run]] = relationship(
        primaryjoin="foreign(Run.superseded_by_id) == remote(Run.id)", viewonly=True)


class RunStep(StepDefinition, db.Model):
    """One step of one run, with its own copy of the workflow step taken at run creation."""

    __tablename__ = "run_steps"
    __table_args__ = (sa.UniqueConstraint("run_id", "step_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    step_index: Mapped[int] = mapped_column()
    status: Mapped[StepStatus] = mapped_column(_enum(StepStatus), default=StepStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    claim_token: Mapped[Optional[str]] = mapped_column(sa.String(64))
    lease_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    effect_started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    input: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    output: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    error: Mapped[Optional[str]] = mapped_column(sa.Text)
    started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(sa.Float, default=0.0)

    run: Mapped[Run] = relationship(back_populates="steps")
    approvals: Mapped[list[Approval]] = relationship(
        order_by="Approval.id", cascade="all, delete-orphan", back_populates="run_step"
    )


class Message(db.Model):
    """One entry of a run's conversation with the model, in order."""

    __tablename__ = "messages"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    position: Mapped[int] = mapped_column()
    role: Mapped[str] = mapped_column(sa.String(16))
    content: Mapped[Optional[str]] = mapped_column(sa.Text)
    tool_calls: Mapped[Optional[list]] = mapped_column(sa.JSON)
    tool_call_id: Mapped[Optional[str]] = mapped_column(sa.String(128))
    step_index: Mapped[Optional[int]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Asset(db.Model):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step_index: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[Optional[str]] = mapped_column(sa.Text)
    file_path: Mapped[Optional[str]] = mapped_column(sa.String(500))
    mime_type: Mapped[str] = mapped_column(sa.String(100), default="text/plain")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Approval(db.Model):
    __tablename__ = "approvals"
    __table_args__ = (
        sa.Index("ix_approvals_status_id", "status", "id"),  # ?status= lists, newest first
        sa.Index("ix_approvals_owner_id_id", "owner_id", "id"),  # the owner's approvals, History
        sa.Index("ix_approvals_owner_id_status_id", "owner_id", "status", "id"),  # Pending, the badge
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_step_id: Mapped[int] = mapped_column(
        sa.ForeignKey("run_steps.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(nullable=True)  # the run's owner, copied as Run.owner_id is
    status: Mapped[ApprovalStatus] = mapped_column(
        _enum(ApprovalStatus), default=ApprovalStatus.PENDING, index=True
    )
    proposed_input: Mapped[dict] = mapped_column(sa.JSON)
    decided_input: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    feedback: Mapped[Optional[str]] = mapped_column(sa.Text)
    decided_by: Mapped[Optional[str]] = mapped_column(sa.String(254))
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    channel: Mapped[Optional[Channel]] = mapped_column(_enum(Channel))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminder_sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run_step: Mapped[RunStep] = relationship(back_populates="approvals")
    run: Mapped[Run] = relationship()


def owner_of_workflow(workflow_id: Any) -> sa.ScalarSelect:
    """The owner of a workflow, as a subquery an INSERT of a run embeds (no extra statement)."""
    return sa.select(Workflow.__table__.c.owner_id).where(Workflow.__table__.c.id == workflow_id).scalar_subquery()


def owner_of_run(run_id: Any) -> sa.ScalarSelect:
    """The owner of a run, as a subquery an INSERT of an approval embeds."""
    return sa.select(Run.__table__.c.owner_id).where(Run.__table__.c.id == run_id).scalar_subquery()


@sa.event.listens_for(Run, "before_insert")
def owner_from_workflow(_mapper: Any, _connection: Any, run: Run) -> None:
    """A run added through the ORM copies its workflow's owner in its INSERT (the engine's Core
    INSERT names it itself)."""
    if run.owner_id is None:
        run.owner_id = owner_of_workflow(run.workflow_id)  # type: ignore[assignment]


@sa.event.listens_for(Approval, "before_insert")
def owner_from_run(_mapper: Any, _connection: Any, approval: Approval) -> None:
    """An approval added through the ORM copies its run's owner in its INSERT."""
    if approval.owner_id is None:
        approval.owner_id = owner_of_run(approval.run_id)  # type: ignore[assignment]


class Outbox(db.Model):
    """Every email Stepwise means to send; the dedup key makes a second write a no-op."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    to: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    text: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[Optional[str]] = mapped_column(sa.Text)
    dedup_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus), default=OutboxStatus.QUEUED, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[Optional[str]] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Not before this time (backoff after a failed try); None: at once.
    next_attempt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # A sender claimed the row until then (a conditional UPDATE), so no two send it.
    claimed_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class PendingPublish(db.Model):
    """A QStash message written with the state change that needs it, flushed after commit."""

    __tablename__ = "pending_publishes"

    id: Mapped[int] = mapped_column(primary_key=True)
    destination: Mapped[str] = mapped_column(sa.String(500))
    body: Mapped[dict] = mapped_column(sa.JSON)
    dedup_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    delay_seconds: Mapped[Optional[int]] = mapped_column()
    options: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    run_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    step_index: Mapped[Optional[int]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    message_id: Mapped[Optional[str]] = mapped_column(sa.String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(sa.Text)


class Credential(db.Model):
    """A user's secret for a third-party tool (LinkedIn), encrypted at rest; one per provider."""

    __tablename__ = "credentials"
    __table_args__ = (sa.UniqueConstraint("user_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(32))
    # Fernet token of a JSON object (access token, member id, …); never shown again in full.
    secret: Mapped[str] = mapped_column(sa.Text)
    label: Mapped[Optional[str]] = mapped_column(sa.String(200))
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
