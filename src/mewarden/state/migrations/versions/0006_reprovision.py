"""Heal: the re-provision method (PXE or IDER with an image) per group or node.

Revision ID: 0006_reprovision
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_reprovision"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the reprovision_methods table."""
    op.create_table(
        "reprovision_methods",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("image", sa.Text(), nullable=True),
        sa.Column("image_sha256", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "name", name="pk_reprovision_methods"),
    )


def downgrade() -> None:
    """Drop the reprovision_methods table."""
    op.drop_table("reprovision_methods")
