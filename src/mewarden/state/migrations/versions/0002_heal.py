"""Heal controller: per-node incident state.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the heal_incidents table."""
    op.create_table(
        "heal_incidents",
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name="pk_heal_incidents"),
    )


def downgrade() -> None:
    """Drop the heal_incidents table."""
    op.drop_table("heal_incidents")
