"""ray backend: per-endpoint scaling (replicas or autoscaling bounds)

Revision ID: 0005_scaling
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_scaling"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_scaling",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("endpoint", sa.String(64), nullable=False, unique=True),
        sa.Column("scaling", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("endpoint_scaling")
