"""training: a job's resource request (cpus, gpus) for the ray backend

Revision ID: 0007_job_resources
Revises: 0003_training
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_job_resources"
down_revision = "0003_training"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: SQLite adds such a column without rebuilding the table; NULL reads as {}.
    op.add_column("training_jobs", sa.Column("resources", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_column("resources")
