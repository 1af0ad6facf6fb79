"""monitoring: drift reference summaries and canary bounds

Revision ID: 0004_monitoring
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_monitoring"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reference_summaries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("model", "version", name="uq_reference_model_version"),
    )
    op.create_index("ix_reference_summaries_model", "reference_summaries", ["model"])
    op.create_table(
        "canary_bounds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("endpoint", sa.String(64), nullable=False, unique=True),
        sa.Column("bounds", sa.JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("canary_bounds")
    op.drop_index("ix_reference_summaries_model", "reference_summaries")
    op.drop_table("reference_summaries")
