"""Alembic environment: runs on the connection the Database hands in."""

from alembic import context
from sqlalchemy import create_engine

from maas_jupyter.registry.tables import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # run from the alembic command line
    connection = create_engine(config.get_main_option("sqlalchemy.url") or "").connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
