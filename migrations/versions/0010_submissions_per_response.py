"""submissions per response: an instanceID is scoped to the member's response to a round; imported rows too

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 03:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('odk_submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='openrosa', nullable=False))
        batch_op.add_column(sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint('uq_odk_submission_instance_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_odk_submission_response_id_instance_id'), ['response_id', 'instance_id'])
    op.execute("UPDATE odk_submission SET instance_id = substr(instance_id, 6) WHERE instance_id LIKE 'uuid:%'")
    op.execute("UPDATE odk_submission SET deprecated_id = substr(deprecated_id, 6) WHERE deprecated_id LIKE 'uuid:%'")


def downgrade() -> None:
    op.execute("DELETE FROM odk_submission WHERE source = 'import'")
    op.execute("UPDATE odk_submission SET instance_id = 'uuid:' || instance_id")
    op.execute("UPDATE odk_submission SET deprecated_id = 'uuid:' || deprecated_id WHERE deprecated_id IS NOT NULL")
    with op.batch_alter_table('odk_submission', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_odk_submission_response_id_instance_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_odk_submission_instance_id'), ['instance_id'])
        batch_op.drop_column('submitted_at')
        batch_op.drop_column('source')
