"""A router made from an ISPCube node is known by the node's id: routers.node_id is unique.

Node routers used to be written by name, so renaming a node gave it a second router row while
the first stayed live, and `sync mikrotik` polled the same host twice. Of the rows that share a
node id one goes on as the node's router: a live one before a removed one, then the one named
as the last `sync ispcube` named it (after the node as the nodes table holds it, maybe with
the node id added), then the one made last. The others keep their id, name and rows as
history, lose the node id and are marked removed as of when they were last seen. The rows read
from any removed router are marked removed with it: it is not polled any more, so they are
not current.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_routers_node_id"

# A row gives way unless it comes first among its node's rows. The first row stays first as the
# others are updated (they only drop out or rank lower), whatever order they are updated in.
DETACH_REPEATED_NODES = """
UPDATE routers
SET node_id = NULL, removed_at = COALESCE(removed_at, last_seen_at)
WHERE node_id IS NOT NULL
  AND id <> (
    SELECT kept.id FROM routers AS kept
    WHERE kept.node_id = routers.node_id
    ORDER BY
      CASE WHEN kept.removed_at IS NULL THEN 0 ELSE 1 END,
      CASE WHEN EXISTS (
        SELECT 1 FROM nodes
        WHERE nodes.node_id = kept.node_id
          AND kept.name IN (nodes.name, nodes.name || '-' || CAST(kept.node_id AS TEXT))
      ) THEN 0 ELSE 1 END,
      kept.id DESC
    LIMIT 1
  )
"""

# The tables of what is read from each router, as of this revision.
ROUTER_TABLES = ("ppp_secrets", "ppp_active", "ppp_profiles", "queues")

RETIRE_ROWS = """
UPDATE {table}
SET removed_at = (SELECT routers.removed_at FROM routers WHERE routers.id = {table}.router_id)
WHERE removed_at IS NULL
  AND router_id IN (SELECT id FROM routers WHERE removed_at IS NOT NULL)
"""


def upgrade() -> None:
    op.execute(DETACH_REPEATED_NODES)
    for table in ROUTER_TABLES:
        op.execute(RETIRE_ROWS.format(table=table))
    op.drop_index(INDEX, table_name="routers")
    op.create_index(INDEX, "routers", ["node_id"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="routers")
    op.create_index(INDEX, "routers", ["node_id"], unique=False)
