"""client changes and asked_of

One registry of the ids clients give their changes (web form, offline queue, API, ODK Collect), filled from
the ids already used: device changes (answer_change, "<id>:<field>"), submissions (response.client_id) and
instanceIDs received from ODK Collect (odk_submission, scoped to the member's response as "odk-<response>-<id>"). Their contents were not compared before, so they are recorded without
one: sent again, they change nothing whatever they carry, as before. Cluster-defined KPIs say who is asked.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00.000000
"""
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    client_change = op.create_table('client_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('content_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['response.id'], name=op.f('fk_client_change_response_id_response')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_change')),
    sa.UniqueConstraint('client_id', name=op.f('uq_client_change_client_id'))
    )
    with op.batch_alter_table('client_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_change_response_id'), ['response_id'], unique=False)
    with op.batch_alter_table('cluster_kpi', schema=None) as batch_op:
        batch_op.add_column(sa.Column('asked_of', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))

    connection = op.get_bind()
    known: dict[str, tuple[int, str | None]] = {}
    for client_id, response_id in connection.execute(sa.text('SELECT client_id, response_id FROM answer_change')):
        known.setdefault(client_id.rsplit(':', 1)[0], (response_id, None))
    for client_id, response_id in connection.execute(
        sa.text('SELECT client_id, id FROM response WHERE client_id IS NOT NULL')
    ):
        known.setdefault(client_id, (response_id, None))
    for instance_id, response_id, xml_sha256 in connection.execute(
        sa.text("SELECT instance_id, response_id, xml_sha256 FROM odk_submission WHERE source = 'openrosa'")
    ):
        # An ODK submission's content is its bytes' digest (interop.service.odk_change).
        known[f'odk-{response_id}-{instance_id}'] = (response_id, hashlib.sha256(xml_sha256.encode()).hexdigest())
    now = datetime.now(UTC)
    rows = [
        {'client_id': client_id[:160], 'response_id': response_id, 'content_sha256': digest, 'received_at': now}
        for client_id, (response_id, digest) in known.items()
    ]
    if rows:
        op.bulk_insert(client_change, rows)


def downgrade() -> None:
    with op.batch_alter_table('cluster_kpi', schema=None) as batch_op:
        batch_op.drop_column('asked_of')
    with op.batch_alter_table('client_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_change_response_id'))
    op.drop_table('client_change')
