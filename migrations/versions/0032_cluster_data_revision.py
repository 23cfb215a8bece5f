"""cluster data revision: benchmark roll-ups are current by a revision raised where data changes

Replaces the source stamp recomputed from the audit trail and the participants on every benchmark view. The
stamps cannot be translated into revisions, so every roll-up counts as behind once after the upgrade: the
background refresher recomputes each cluster's open rounds (frozen rounds stay as they are).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 21:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _source_table(kind: sa.Column) -> None:
    """benchmark_source holds only what its roll-ups were computed from: made anew, empty, on either side."""
    op.drop_table('benchmark_source')
    op.create_table('benchmark_source',
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    kind,
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['cluster.id'], ),
    sa.PrimaryKeyConstraint('cluster_id')
    )


def upgrade() -> None:
    with op.batch_alter_table('cluster', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_revision', sa.Integer(), server_default='0', nullable=False))
    _source_table(sa.Column('revision', sa.Integer(), nullable=False))


def downgrade() -> None:
    _source_table(sa.Column('stamp', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False))
    with op.batch_alter_table('cluster', schema=None) as batch_op:
        batch_op.drop_column('data_revision')
