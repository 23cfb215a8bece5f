"""The models and the migrations describe the same schema, every migration reverses cleanly, and upgrading
keeps the data already in the tables; on both databases."""

import hashlib
from datetime import UTC, date, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, MetaData, String, Table, inspect, select
from sqlalchemy.engine import Engine

from app.db import make_engine, metadata
from app.migrate import alembic_config, downgrade, upgrade


def _revisions(database_url: str) -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def _current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _schema(engine: Engine) -> dict[str, Any]:
    """Tables, columns, keys, indexes and constraints as plain data, to compare two states of a database."""
    inspector = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)),
            "uniques": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return schema


def test_models_match_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == [], f"models and migrations disagree; write a migration: {differences}"


def test_each_migration_upgrades_and_downgrades_step_by_step(empty_database_url: str) -> None:
    """Up one revision at a time from an empty database, then down one at a time: every downgrade brings
    back exactly the schema the revision below had, and the base leaves nothing behind."""
    revisions = _revisions(empty_database_url)
    assert revisions[0] == "0001" and len(revisions) >= 3
    engine = make_engine(empty_database_url)
    seen: dict[str | None, dict[str, Any]] = {None: _schema(engine)}
    for revision in revisions:
        upgrade(empty_database_url, revision)
        assert _current(engine) == revision
        seen[revision] = _schema(engine)
        assert seen[revision] != seen[[None, *revisions][revisions.index(revision)]], f"{revision} changed nothing"
    assert set(metadata.tables) <= set(seen[revisions[-1]])

    for below, revision in reversed(list(zip([None, *revisions], revisions, strict=False))):
        downgrade(empty_database_url, below or "base")
        assert _current(engine) == below, f"downgrade of {revision} did not reach {below}"
        assert _schema(engine) == seen[below], f"downgrade of {revision} did not restore the schema of {below}"
    assert seen[None] == {}

    upgrade(empty_database_url)
    assert _schema(engine) == seen[revisions[-1]]
    engine.dispose()


def _value(table: Table, column: Any, row: int) -> Any:
    """A plausible value for a column in row 1, 2, ...; foreign keys point at the referenced table's row `row`."""
    if column.primary_key or column.foreign_keys:
        return row
    kind = column.type
    if isinstance(kind, Boolean):
        return row % 2 == 1
    if isinstance(kind, Integer):
        return 10 + row
    if isinstance(kind, Float):
        return row + 0.25
    if isinstance(kind, DateTime):
        return datetime(2025, 1, row, 9, 30, tzinfo=UTC)
    if isinstance(kind, Date):
        return date(2025, 1, row)
    if isinstance(kind, JSON):
        return {"table": table.name, "row": row, "items": [1, "two"]}
    if isinstance(kind, String):
        text = f"{table.name}.{column.name} #{row} ä€"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"no test value for {table.name}.{column.name} of type {kind!r}")


def _rows(engine: Engine, tables: list[Table]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the given tables, reading only the columns those tables had, in primary-key order."""
    current = MetaData()
    current.reflect(engine)
    result: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in tables:
            now = current.tables[table.name]
            query = select(*(now.c[c.name] for c in table.columns)).order_by(
                *(now.c[c.name] for c in table.primary_key)
            )
            result[table.name] = [tuple(r) for r in conn.execute(query)]
    return result


def test_upgrade_from_the_first_revision_keeps_the_data(empty_database_url: str) -> None:
    revisions = _revisions(empty_database_url)
    upgrade(empty_database_url, revisions[0])
    engine = make_engine(empty_database_url)
    first = MetaData()
    first.reflect(engine)
    tables = [t for t in first.sorted_tables if t.name != "alembic_version"]
    assert {"programme", "cluster", "participant", "round", "response", "answer", "csf_rating"} <= {
        t.name for t in tables
    }
    with engine.begin() as conn:
        for table in tables:  # sorted by dependency, so every foreign key finds its row
            conn.execute(table.insert(), [{c.name: _value(table, c, row) for c in table.columns} for row in (1, 2)])
    before = _rows(engine, tables)
    assert all(len(rows) == 2 for rows in before.values())

    upgrade(empty_database_url)
    assert _current(engine) == revisions[-1]
    assert _rows(engine, tables) == before
    engine.dispose()


def test_ids_clients_gave_their_changes_before_0011_stay_used(empty_database_url: str) -> None:
    """Device change ids, submission ids and ODK instanceIDs used before the registry of change ids existed are
    in it: sent again, they change nothing."""
    upgrade(empty_database_url, "0009")
    engine = make_engine(empty_database_url)
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as conn:
        for table in ("programme", "template_version", "cluster", "participant", "round"):
            t = tables.tables[table]
            conn.execute(t.insert(), [{c.name: _value(t, c, 1) for c in t.columns}])
        response = tables.tables["response"]
        conn.execute(
            response.insert(),
            [{**{c.name: _value(response, c, 1) for c in response.columns}, "client_id": "submit-0001"}],
        )
        change = tables.tables["answer_change"]
        row = {c.name: _value(change, c, 1) for c in change.columns}
        conn.execute(
            change.insert(),
            [{**row, "id": 1, "client_id": "phone-0001:k.plan"}, {**row, "id": 2, "client_id": "phone-0001:r.loans"}],
        )
        odk = tables.tables["odk_submission"]
        conn.execute(
            odk.insert(),
            [{**{c.name: _value(odk, c, 1) for c in odk.columns}, "instance_id": "uuid:1", "xml_sha256": "ab"}],
        )
    upgrade(empty_database_url)
    with engine.connect() as conn:
        registry = MetaData()
        registry.reflect(engine, only=["client_change"])
        found = {
            r.client_id: (r.response_id, r.content_sha256)
            for r in conn.execute(select(registry.tables["client_change"]))
        }
    assert found == {
        "phone-0001": (1, None),
        "submit-0001": (1, None),
        "odk-1-1": (1, hashlib.sha256(b"ab").hexdigest()),  # instanceIDs are scoped to the response
    }
    engine.dispose()


def test_frozen_entries_get_the_measure_sets_of_their_values_in_0033(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0032")
    engine = make_engine(empty_database_url)
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as conn:
        # two of each; round 1 has two values, round 2 none
        for table in ("programme", "template_version", "cluster", "round", "benchmark_entry"):
            t = tables.tables[table]
            conn.execute(t.insert(), [{c.name: _value(t, c, row) for c in t.columns} for row in (1, 2)])
        value = tables.tables["benchmark_value"]
        conn.execute(
            value.insert(),
            [
                {"id": i, "round_id": 1, "cluster_id": 1, "measure": measure, "value": 50.0}
                for i, measure in enumerate(["overall", "csf:cost-control"], start=1)
            ],
        )
    upgrade(empty_database_url, "0033")
    with engine.connect() as conn:
        now = MetaData()
        now.reflect(engine, only=["benchmark_entry", "benchmark_measure_set"])
        sets = {f: measures for f, measures in conn.execute(select(now.tables["benchmark_measure_set"]))}
        entry = now.tables["benchmark_entry"]
        entries = {r: f for r, f in conn.execute(select(entry.c.round_id, entry.c.measure_set))}
    assert sets == {
        hashlib.sha256(b"csf:cost-control overall").hexdigest(): "csf:cost-control overall",
        hashlib.sha256(b"").hexdigest(): "",
    }
    assert entries == {1: hashlib.sha256(b"csf:cost-control overall").hexdigest(), 2: hashlib.sha256(b"").hexdigest()}
    engine.dispose()
