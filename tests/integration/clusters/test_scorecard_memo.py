"""Built scorecards are shared between requests, and never outlive a change to what they are built from."""

import pydantic
import pytest
from sqlmodel import Session

from app.clusters import service as cluster_service
from app.clusters.schemas import CustomKpiCreate, KpiSettingsUpdate
from tests import factories


def test_the_same_settings_give_the_same_scorecard_and_it_is_read_only(session: Session) -> None:
    cluster = factories.cluster(session)
    session.commit()
    first = cluster_service.scorecard(session, cluster, lang="en")
    assert cluster_service.scorecard(session, cluster, lang="en") is first
    assert cluster_service.scorecard(session, cluster, lang="es") is not first
    with pytest.raises(pydantic.ValidationError):
        first.perspectives[0].csfs[0].kpis[0].active = False  # type: ignore[misc]  # shared: no request may change it for the others


def test_a_change_by_another_session_is_seen_at_once(session: Session, engine: object) -> None:
    """Another session stands for another app process: nothing is announced, the cluster's version changes."""
    cluster = factories.cluster(session)
    session.commit()
    before = cluster_service.scorecard(session, cluster)
    kpi = next(k for k in before.kpis() if not k.is_custom)

    with Session(session.get_bind(), expire_on_commit=False) as other:
        theirs = cluster_service.get_cluster(other, cluster.id or 0)
        cluster_service.update_kpi_settings(
            other, theirs, kpi.key, KpiSettingsUpdate(active=False, target=42), actor="test"
        )
        cluster_service.add_custom_kpi(
            other,
            theirs,
            CustomKpiCreate(key="joint-stands", csf_key=kpi.csf_key, title="Joint trade fair stands"),
            actor="test",
        )
        other.commit()
    session.commit()  # a new snapshot (SQLite)
    session.refresh(cluster)  # as the next request reads it

    after = cluster_service.scorecard(session, cluster)
    changed = after.kpi(kpi.key)
    assert changed is not None and (changed.active, changed.target) == (False, 42)
    added = after.kpi("joint-stands")
    assert added is not None and added.is_custom
    assert before.kpi(kpi.key) == kpi  # the scorecard handed out before is untouched


def test_a_change_in_this_request_is_seen_by_its_next_look_at_the_scorecard(session: Session) -> None:
    """The version is raised in SQL and reloaded: the page a facilitator sees after a change shows it."""
    cluster = factories.cluster(session)
    session.commit()
    kpi = next(k for k in cluster_service.scorecard(session, cluster).kpis() if not k.is_custom)
    version = cluster.scorecard_version
    cluster_service.update_kpi_settings(session, cluster, kpi.key, KpiSettingsUpdate(target=7), actor="test")
    session.flush()
    changed = cluster_service.scorecard(session, cluster).kpi(kpi.key)
    assert changed is not None and changed.target == 7
    assert cluster.scorecard_version == version + 1


def test_only_changes_to_what_a_scorecard_is_built_from_raise_the_version(session: Session) -> None:
    cluster = factories.cluster(session)
    session.commit()
    version = cluster.scorecard_version
    cluster.name = "Renamed"
    session.add(cluster)
    session.flush()
    assert cluster.scorecard_version == version
    kpi = next(k for k in cluster_service.scorecard(session, cluster).kpis() if not k.is_custom)
    cluster_service.add_custom_kpi(
        session, cluster, CustomKpiCreate(key="new-one", csf_key=kpi.csf_key, title="A new one"), actor="test"
    )
    session.flush()
    assert cluster.scorecard_version == version + 1
