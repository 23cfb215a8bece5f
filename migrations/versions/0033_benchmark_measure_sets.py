"""benchmark measure sets: which measures a frozen entry has a value for

The differencing control counts peers with a value per measure; kept with the entry when it is frozen (as a
fingerprint of a shared set), it is read from the entries instead of from every peer's values. Existing entries
get theirs from their frozen values.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 00:10:00.000000
"""
import hashlib
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('benchmark_measure_set',
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('fingerprint')
    )
    with op.batch_alter_table('benchmark_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('measure_set', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    bind = op.get_bind()
    present: dict[int, list[str]] = defaultdict(list)
    for round_id, measure in bind.execute(sa.text(
        'SELECT e.round_id, v.measure FROM benchmark_entry e LEFT JOIN benchmark_value v ON v.round_id = e.round_id'
    )):
        present[round_id] += [measure] if measure is not None else []
    listed = {round_id: ' '.join(sorted(measures)) for round_id, measures in present.items()}
    sets = {hashlib.sha256(text.encode()).hexdigest(): text for text in set(listed.values())}
    if sets:
        bind.execute(
            sa.text('INSERT INTO benchmark_measure_set (fingerprint, measures) VALUES (:fingerprint, :measures)'),
            [{'fingerprint': f, 'measures': text} for f, text in sets.items()],
        )
        bind.execute(
            sa.text('UPDATE benchmark_entry SET measure_set = :fingerprint WHERE round_id = :round_id'),
            [{'round_id': r, 'fingerprint': hashlib.sha256(text.encode()).hexdigest()} for r, text in listed.items()],
        )
    with op.batch_alter_table('benchmark_entry', schema=None) as batch_op:
        batch_op.alter_column('measure_set', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_benchmark_entry_measure_set_benchmark_measure_set'), 'benchmark_measure_set',
            ['measure_set'], ['fingerprint'],
        )


def downgrade() -> None:
    with op.batch_alter_table('benchmark_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_benchmark_entry_measure_set_benchmark_measure_set'), type_='foreignkey')
        batch_op.drop_column('measure_set')
    op.drop_table('benchmark_measure_set')
