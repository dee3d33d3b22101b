"""Why a background job failed: Procrastinate records that it failed, we keep the error."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dinamis.core.columns import CreatedAt, IntPk
from dinamis.core.db import Base


class JobFailure(Base):
    """One failed attempt of a job (procrastinate_jobs.id), with its error."""

    __tablename__ = "job_failures"
    __table_args__ = (Index("ix_job_failures_task_name_id", "task_name", "id"),)

    id: Mapped[IntPk]
    job_id: Mapped[int] = mapped_column(BigInteger, index=True)
    task_name: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int]
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[CreatedAt]
