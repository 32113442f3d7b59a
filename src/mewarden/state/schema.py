"""The org-state schema (SQLAlchemy 2 Core), the single source of truth for Alembic.

Append-only tables (``events``, ``node_documents``) are never updated by the store API. Each
node row carries its lease (owner, expiry, epoch) for the heal controller and a ``version`` used
as a compare-and-set token so two writers never lose each other's update.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

org_settings = Table(
    "org_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("policy", String(16), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("group_id", Integer, ForeignKey("groups.id"), nullable=True),
    Column("policy", String(16), nullable=True),
    Column("lifecycle", String(16), nullable=False),
    Column("amt_host", String(255), nullable=True),
    Column("amt_port", Integer, nullable=True),
    Column("amt_tls", Boolean, nullable=False, default=False),
    Column("amt_username", String(64), nullable=True),
    Column("macs", Text, nullable=False, default="[]"),
    Column("agent_address", String(255), nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires", DateTime(timezone=True), nullable=True),
    Column("lease_epoch", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # operator intent the heal controller obeys (migration 0003)
    Column("maintenance", Boolean, nullable=False, default=False, server_default="0"),
    Column("power_intent", String(8), nullable=False, default="on", server_default="on"),
)

node_documents = Table(
    "node_documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("node_id", Integer, ForeignKey("nodes.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("source", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("body", Text, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("node_id", Integer, ForeignKey("nodes.id"), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("username", String(64), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("node_id", "purpose", name="uq_credentials_node_purpose"),
)

tls_pins = Table(
    "tls_pins",
    metadata,
    Column("node_id", Integer, ForeignKey("nodes.id"), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("pinned_at", DateTime(timezone=True), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("node", String(128), nullable=True, index=True),
    Column("actor", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)

heal_incidents = Table(
    "heal_incidents",
    metadata,
    Column("node", String(128), primary_key=True),
    Column("phase", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""The heal controller's ladder state per node (JSON body; written only under the node lease)."""

heal_budgets = Table(
    "heal_budgets",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("tokens", Float, nullable=True),
    Column("updated_at", Float, nullable=True),
)
"""The heal controller's rate budgets (token buckets ``actions`` and ``pxe``), shared by every
replica; NULL tokens: never used yet, so full. Times are the controller's clock (wall seconds)."""

heal_heartbeats = Table(
    "heal_heartbeats",
    metadata,
    Column("node", String(128), primary_key=True),
    Column("counter", BigInteger, nullable=False),
    Column("at", Float, nullable=False),
)
"""The latest authenticated heartbeat per node (migration 0005): its counter (a later one must
be higher: replays are refused) and when a replica received it (wall seconds). Written by any
replica's receiver, read in bulk by every pass."""

# --- mewarden serve: people, machines and browser sessions (migration 0006_serve) ----------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("failed_logins", Integer, nullable=False, default=0, server_default="0"),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""Web and API users; ``password_hash`` is an Argon2id PHC string (never the password)."""

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_id", String(16), nullable=False, unique=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("description", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)
"""API tokens: the public ``token_id`` and the SHA-256 of the random secret (shown once)."""

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
"""Browser sessions, kept in org state so every replica knows them and logout revokes them;
only the SHA-256 of the cookie value is stored."""


reprovision_methods = Table(
    "reprovision_methods",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("method", String(8), nullable=False),
    Column("image", Text, nullable=True),
    Column("image_sha256", String(64), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""How a group's or node's nodes are re-provisioned by heal (migration 0006_reprovision):
``pxe`` or ``ider`` with the installer image's path and SHA-256 (no row: PXE)."""
