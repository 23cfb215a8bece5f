"""KPIs a template's authors wrote as examples (illustrative: true) are marked as such on the setup page, on the
session screen and in the exports, in the reader's language; the source's own KPIs are not."""

import csv
import io

from fastapi import FastAPI
from sqlmodel import Session

from tests import factories


def test_illustrative_kpis_are_marked_on_screen_and_in_exports(app: FastAPI, session: Session) -> None:
    scottish = factories.cluster(session, template_key="scottish-enterprise-cluster")
    thai = factories.cluster(session, template_key="thai-food-cluster")  # the paper's own KPIs
    round_ = factories.open_round(session, scottish)
    facilitator = factories.user(session, grants=(("facilitator", scottish), ("facilitator", thai)))
    facilitator.language = "fr"
    session.add(facilitator)
    staff = factories.logged_in(app, session, facilitator)
    session.commit()

    setup = staff.get(f"/clusters/{scottish.id}/setup").text
    assert 'id="illustrative-note"' in setup and "Les KPI marqués « illustratif »" in setup
    assert setup.count('<span class="badge">illustratif</span>') == 31  # every KPI of Figure 6 is ours
    own = staff.get(f"/clusters/{thai.id}/setup").text
    assert "illustratif" not in own

    assert staff.get(f"/rounds/{round_.id}/session").text.count('<span class="badge">illustratif</span>') == 31
    scores = list(csv.DictReader(io.StringIO(staff.get(f"/rounds/{round_.id}/export/scores.csv").text), delimiter=";"))
    kpis = [row for row in scores if row["level"] == "kpi"]
    assert kpis and {row["illustrative"] for row in kpis} == {"Oui"}
    assert {row["illustrative"] for row in scores if row["level"] != "kpi"} == {""}
