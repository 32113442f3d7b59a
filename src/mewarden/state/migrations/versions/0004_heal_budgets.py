"""Heal controller: rate budgets shared by every replica (token buckets in org state).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the heal_budgets table."""
    op.create_table(
        "heal_budgets",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_heal_budgets"),
    )


def downgrade() -> None:
    """Drop the heal_budgets table."""
    op.drop_table("heal_budgets")
