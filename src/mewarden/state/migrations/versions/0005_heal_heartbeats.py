"""Heal controller: the latest authenticated heartbeat per node.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the heal_heartbeats table."""
    op.create_table(
        "heal_heartbeats",
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("node", name="pk_heal_heartbeats"),
    )


def downgrade() -> None:
    """Drop the heal_heartbeats table."""
    op.drop_table("heal_heartbeats")
