"""The pipeline step cache: cache keys to the stored outputs of the step run that computed them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:18:21.261976
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=256), nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_step_cache_run_id_runs")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_step_cache")),
    )


def downgrade() -> None:
    op.drop_table("step_cache")
