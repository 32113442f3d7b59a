"""Operator intent per node: maintenance flag and desired power state (heal obeys both).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add nodes.maintenance and nodes.power_intent with defaults for existing rows."""
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("maintenance", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("power_intent", sa.String(8), nullable=False, server_default="on")
        )


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("power_intent")
        batch.drop_column("maintenance")
