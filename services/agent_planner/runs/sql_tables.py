"""The run tables and the statements the run store uses on every event, built once
(constructing them per call cost more than running them) and prepared (on SQLite they run
on the driver itself)."""

from __future__ import annotations

import sqlalchemy as sa

from services.agent_planner.runs.records import RunStatus
from services.kit.database import Migration, RowId
from services.kit.prepared import Prepared

METADATA = sa.MetaData()
RUNS = sa.Table(
    "runs",
    METADATA,
    sa.Column("position", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, nullable=False, unique=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("trace_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("resources", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text),
    sa.Column("finished_at", sa.Text),
    sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Index("idx_runs_session", "session_id", "position"),
    sa.Index("idx_runs_status", "status", "position"),
    sa.Index("idx_runs_finished", "finished_at"),
    sqlite_autoincrement=True,
)
RUN_EVENTS = sa.Table(
    "run_events",
    METADATA,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)
RECORD_COLUMNS = (
    RUNS.c.run_id,
    RUNS.c.session_id,
    RUNS.c.trace_id,
    RUNS.c.status,
    RUNS.c.prompt,
    RUNS.c.resources,
    RUNS.c.created_at,
    RUNS.c.started_at,
    RUNS.c.finished_at,
    RUNS.c.turns,
    RUNS.c.result,
    RUNS.c.error,
    RUNS.c.reason,
    RUNS.c.owner,
    RUNS.c.heartbeat_at,
)
OPEN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


def _status_in(statuses: tuple[RunStatus, ...]) -> sa.ColumnElement[bool]:
    """status IN (...) with the statuses written into the SQL: a list of values would be an
    expanding parameter, set up again on every execution."""
    return RUNS.c.status.in_([sa.literal_column(f"'{status.value}'") for status in statuses])


IS_OPEN = _status_in(OPEN_STATUSES)  # held by a process (heartbeats, leases)
# Not ended: open, or parked for a reviewer (events, the ending and a cancel still apply).
IS_UNFINISHED = _status_in((*OPEN_STATUSES, RunStatus.WAITING_APPROVAL))
# Hot-path statements.
NEXT_SEQ = Prepared(
    RUNS.update()
    .where(RUNS.c.run_id == sa.bindparam("id"))
    .values(last_seq=RUNS.c.last_seq + 1)
    .returning(RUNS.c.last_seq)
)
# The highest turn of the events being written, if above the run's count.
RAISED_TURNS = sa.case(
    (RUNS.c.turns < sa.bindparam("turn"), sa.bindparam("turn")), else_=RUNS.c.turns
)
# Numbers `count` events of an unfinished run at once: they take the numbers up to the
# returned one.
NEXT_SEQS_IF_OPEN = Prepared(
    RUNS.update()
    .where(RUNS.c.run_id == sa.bindparam("id"), IS_UNFINISHED)
    .values(last_seq=RUNS.c.last_seq + sa.bindparam("count"), turns=RAISED_TURNS)
    .returning(RUNS.c.last_seq)
)
INSERT_EVENT = Prepared(RUN_EVENTS.insert(), ("run_id", "seq", "type", "data", "created_at"))
# A new run's row: the columns a started run fills (a queued one leaves owner and
# started_at null).
NEW_RUN_COLUMNS = (
    "run_id",
    "session_id",
    "trace_id",
    "status",
    "prompt",
    "resources",
    "created_at",
    "started_at",
    "owner",
    "heartbeat_at",
    "last_seq",
)
INSERT_RUN = Prepared(RUNS.insert(), NEW_RUN_COLUMNS)
START_RUN = Prepared(
    RUNS.update()
    .where(RUNS.c.run_id == sa.bindparam("id"), RUNS.c.status == RunStatus.QUEUED.value)
    .values(
        status=RunStatus.RUNNING.value,
        started_at=sa.bindparam("started_at"),
        owner=sa.bindparam("owner"),
        heartbeat_at=sa.bindparam("now"),
        last_seq=RUNS.c.last_seq + 1,  # numbers the run.started event in the same statement
    )
    .returning(RUNS.c.last_seq)
)
FINISH_RUN = Prepared(
    RUNS.update()
    .where(RUNS.c.run_id == sa.bindparam("id"), IS_UNFINISHED)
    .values(
        status=sa.bindparam("status"),
        finished_at=sa.bindparam("finished_at"),
        result=sa.bindparam("result", type_=sa.Text),
        error=sa.bindparam("error", type_=sa.Text),
        reason=sa.bindparam("reason", type_=sa.Text),
        # An ending that does not know the turn count keeps the one the events recorded.
        turns=sa.func.coalesce(sa.bindparam("turns", type_=sa.Integer), RAISED_TURNS),
        # Numbers the events held for the ending and the terminal one in the same statement.
        last_seq=RUNS.c.last_seq + sa.bindparam("count"),
    )
    .returning(RUNS.c.last_seq)
)
EVENTS_AFTER = Prepared(
    sa.select(RUN_EVENTS.c.seq, RUN_EVENTS.c.type, RUN_EVENTS.c.data, RUN_EVENTS.c.created_at)
    .where(RUN_EVENTS.c.run_id == sa.bindparam("id"), RUN_EVENTS.c.seq > sa.bindparam("after"))
    .order_by(RUN_EVENTS.c.seq)
    .limit(sa.bindparam("limit"))
)


def create_run_tables(connection: sa.Connection) -> None:
    # checkfirst: a database written before migrations existed is adopted as version 1.
    METADATA.create_all(connection, checkfirst=True)


# Version 2 on: in their own metadata, so version 1 always creates exactly what it did.
CHECKPOINT_METADATA = sa.MetaData()
RUN_CHECKPOINTS = sa.Table(
    "run_checkpoints",
    CHECKPOINT_METADATA,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("approval", sa.Text, nullable=False, server_default="[]"),
    sa.Column("data", sa.Text),  # the Checkpoint JSON; null until the first step
    sa.Column("call_id", sa.Text),  # the call waiting for a reviewer
    sa.Column("deadline", sa.Float),  # when that call is rejected with reason "timeout"
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Index("idx_run_checkpoints_deadline", "deadline"),
)


def create_checkpoint_table(connection: sa.Connection) -> None:
    CHECKPOINT_METADATA.create_all(connection)


# Version 3: the namespace and knowledge bases a run asked for; a row only for runs that
# made a choice, so a run without one costs no extra write.
KNOWLEDGE_METADATA = sa.MetaData()
RUN_KNOWLEDGE = sa.Table(
    "run_knowledge",
    KNOWLEDGE_METADATA,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("namespace", sa.Text, nullable=False, server_default=""),
    sa.Column("knowledge_bases", sa.Text, nullable=False, server_default="[]"),  # JSON list
)


def create_knowledge_table(connection: sa.Connection) -> None:
    KNOWLEDGE_METADATA.create_all(connection)


# A run's record with its choice (none when it has no run_knowledge row).
SELECT_RECORDS = sa.select(
    *RECORD_COLUMNS, RUN_KNOWLEDGE.c.namespace, RUN_KNOWLEDGE.c.knowledge_bases
).select_from(RUNS.outerjoin(RUN_KNOWLEDGE, RUN_KNOWLEDGE.c.run_id == RUNS.c.run_id))
# GET /runs/{id}, and every check of a run's status: built once, not keyed again per call.
SELECT_RECORD = Prepared(SELECT_RECORDS.where(RUNS.c.run_id == sa.bindparam("id")))

MIGRATIONS = [
    Migration(1, "runs and run events", create_run_tables),
    Migration(2, "run checkpoints and approvals", create_checkpoint_table),
    Migration(3, "run namespace and knowledge bases", create_knowledge_table),
]
