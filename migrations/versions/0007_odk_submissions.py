"""odk submissions

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-29 08:16:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('odk_submission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('xml_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('deprecated_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['response.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id')
    )
    with op.batch_alter_table('odk_submission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_odk_submission_response_id'), ['response_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('odk_submission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_odk_submission_response_id'))

    op.drop_table('odk_submission')
