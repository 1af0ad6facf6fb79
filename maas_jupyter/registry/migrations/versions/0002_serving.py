"""serving: desired state of endpoints

Revision ID: 0002_serving
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_serving"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("previous_version", sa.Integer, nullable=True),
        sa.Column("canary_version", sa.Integer, nullable=True),
        sa.Column("canary_weight", sa.Integer, nullable=False),
        sa.Column("max_batch_size", sa.Integer, nullable=False),
        sa.Column("max_queue_delay_ms", sa.Float, nullable=False),
        sa.Column("loaded", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_endpoints_model", "endpoints", ["model"])


def downgrade() -> None:
    op.drop_index("ix_endpoints_model", "endpoints")
    op.drop_table("endpoints")
