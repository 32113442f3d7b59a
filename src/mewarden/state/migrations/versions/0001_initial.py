"""Initial org-state schema.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "org_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_org_settings"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("policy", sa.String(16), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("name", name="uq_groups_name"),
    )
    _create_nodes()
    _create_node_tables()
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("node", sa.String(128), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_node", "events", ["node"])


def _create_nodes() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("policy", sa.String(16), nullable=True),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("amt_host", sa.String(255), nullable=True),
        sa.Column("amt_port", sa.Integer(), nullable=True),
        sa.Column("amt_tls", sa.Boolean(), nullable=False),
        sa.Column("amt_username", sa.String(64), nullable=True),
        sa.Column("macs", sa.Text(), nullable=False),
        sa.Column("agent_address", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", _TZ, nullable=True),
        sa.Column("lease_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="fk_nodes_group_id_groups"),
        sa.PrimaryKeyConstraint("id", name="pk_nodes"),
        sa.UniqueConstraint("name", name="uq_nodes_name"),
    )


def _create_node_tables() -> None:
    op.create_table(
        "node_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name="fk_node_documents_node_id_nodes"),
        sa.PrimaryKeyConstraint("id", name="pk_node_documents"),
    )
    op.create_index("ix_node_documents_node_id", "node_documents", ["node_id"])
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name="fk_credentials_node_id_nodes"),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.UniqueConstraint("node_id", "purpose", name="uq_credentials_node_purpose"),
    )
    op.create_table(
        "tls_pins",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pinned_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name="fk_tls_pins_node_id_nodes"),
        sa.PrimaryKeyConstraint("node_id", name="pk_tls_pins"),
    )


def downgrade() -> None:
    """Drop everything (only for development databases)."""
    for table in ("tls_pins", "credentials", "node_documents", "nodes", "events", "groups"):
        op.drop_table(table)
    op.drop_table("org_settings")
