"""The facilitator's pages over HTTP: setup, proposals, rounds, the live session screen, print and exports."""

import csv
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import KpiSettingsUpdate
from app.dashboard import service as dashboard_service
from app.main import create_app
from app.proposals import service as proposal_service
from app.proposals.models import IndicatorProposal
from app.proposals.schemas import ProposalCreate
from app.reflection.models import ActionItem, ReflectionNote
from app.responses import service as response_service
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundStatus
from app.scorecards import service as scorecard_service
from app.scorecards.schema import TemplateSpec
from app.scoring import service as scoring_service
from tests import factories

LOANS = "ease-of-access-to-loans"
COSTS = "cost-control"


@dataclass
class Setting:
    cluster: Cluster
    round: Round
    members: list[Participant]


def staff_client(app: FastAPI, session: Session, role: str, scope: Cluster) -> TestClient:
    """A browser-like client logged in with a session cookie (pages use cookies and CSRF, like a browser)."""
    return factories.logged_in(app, session, factories.user(session, grants=((role, scope),)))


def answer(
    session: Session,
    round_: Round,
    member: Participant,
    ratings: dict[str, int],
    *,
    comment: str = "",
    answers: dict[str, object] | None = None,
) -> None:
    fresh(session)
    response = response_service.start_response(session, round_, member)
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    draft = ResponseDraft(
        answers=[AnswerIn(kpi_key=k, value=v) for k, v in (answers or {}).items()],  # type: ignore[arg-type]
        ratings=[RatingIn(csf_key=k, rating=r, comment=comment) for k, r in ratings.items()],
    )
    response_service.save_draft(
        session, response, draft, scorecard=cluster_service.scorecard(session, cluster), actor="t", locale="en"
    )
    response_service.submit(session, response, client_id=None, actor="t")
    session.commit()


@pytest.fixture
def setting(session: Session) -> Setting:
    cluster = factories.cluster(session)
    members = [factories.participant(session, cluster, organisation=f"Firm {i}") for i in range(4)]
    round_ = factories.open_round(session, cluster, label="2026 H1")
    session.commit()
    return Setting(cluster, round_, members)


@pytest.fixture
def facilitator(app: FastAPI, client: TestClient, session: Session, setting: Setting) -> Iterator[TestClient]:
    yield staff_client(app, session, "facilitator", setting.cluster)


@pytest.fixture
def observer(app: FastAPI, client: TestClient, session: Session, setting: Setting) -> Iterator[TestClient]:
    yield staff_client(app, session, "observer", setting.cluster)


def fresh(session: Session) -> None:
    """End the test's read transaction (SQLite keeps its snapshot until then) and reload objects."""
    session.commit()
    session.expire_all()


def csrf(http: TestClient) -> dict[str, str]:
    return {"csrf_token": http.headers["X-CSRF-Token"]}


# --- setup ----------------------------------------------------------------------------------------


def test_home_links_each_cluster_to_its_pages(facilitator: TestClient, setting: Setting) -> None:
    home = facilitator.get("/").text
    for page in ("setup", "rounds"):
        assert f'href="/clusters/{setting.cluster.id}/{page}"' in home
    # Each name in the list of clusters to compare is isolated: on an Arabic page the list runs from the right.
    name = html.escape(setting.cluster.name)
    assert f'<a href="/benchmarks/clusters/{setting.cluster.id}">\u2068{name}\u2069</a>' in home


def test_setup_shows_the_scorecard_and_saves_kpi_settings(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    page = facilitator.get(f"/clusters/{setting.cluster.id}/setup").text
    assert "Ease of access to loans" in page and "Non-Performing Loans" in page
    response = facilitator.post(
        f"/clusters/{setting.cluster.id}/setup/kpis/non-performing-loans",
        data={"baseline": "40", "target": "20", "weight": "2", **csrf(facilitator)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<tr id="kpi-non-performing-loans" class="inactive"')  # unchecked
    fresh(session)
    kpi = cluster_service.scorecard(session, setting.cluster).kpi("non-performing-loans")
    assert kpi is not None and (kpi.active, kpi.baseline, kpi.target, kpi.weight) == (False, 40.0, 20.0, 2.0)
    # A target on the wrong side of the baseline for a "fewer is better" KPI is refused and explained.
    bad = facilitator.post(
        f"/clusters/{setting.cluster.id}/setup/kpis/non-performing-loans",
        data={"active": "on", "baseline": "abc", "target": "20", **csrf(facilitator)},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422 and "Please enter a number, written like 1,234.5." in bad.text


def test_facilitator_adds_a_cluster_kpi_directly(facilitator: TestClient, setting: Setting, session: Session) -> None:
    response = facilitator.post(
        f"/clusters/{setting.cluster.id}/setup/kpis",
        data={
            "title": "Joint trade fair stands",
            "csf_key": COSTS,
            "level": "cluster",
            "kpi_type": "count",
            "baseline": "1",
            "target": "4",
            **csrf(facilitator),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    fresh(session)
    kpi = cluster_service.scorecard(session, setting.cluster).kpi("own-joint-trade-fair-stands")
    assert kpi is not None and kpi.is_custom and (kpi.baseline, kpi.target) == (1.0, 4.0)
    refused = facilitator.post(
        f"/clusters/{setting.cluster.id}/setup/kpis", data={"title": "", "csf_key": COSTS, **csrf(facilitator)}
    )
    assert refused.status_code == 422 and "Please check the marked fields." in refused.text


def test_observer_sees_the_scorecard_without_forms(observer: TestClient, setting: Setting) -> None:
    page = observer.get(f"/clusters/{setting.cluster.id}/setup").text
    assert "Ease of access to loans" in page
    assert "/setup/kpis" not in page
    refused = observer.post(f"/clusters/{setting.cluster.id}/setup/kpis", data={"title": "x", **csrf(observer)})
    assert refused.status_code == 404


def test_template_upgrade_preview_and_apply(facilitator: TestClient, setting: Setting, session: Session) -> None:
    current = scorecard_service.get_version(session, setting.cluster.template_version_id)
    spec = scorecard_service.spec_of(current).model_dump(mode="json")
    spec["version"] = "2"
    first_csf = spec["perspectives"][0]["csfs"][0]
    first_csf["title"] = {"en": "Access to finance"}
    moved = first_csf["kpis"].pop()  # loan-repayment-period moves to the next CSF
    spec["perspectives"][0]["csfs"][1]["kpis"].append(moved)
    first_csf["kpis"].append({"key": "guarantee-fund", "title": "Guarantee fund in place", "type": "yes_no"})
    cluster_service.update_kpi_settings(
        session, setting.cluster, "non-performing-loans", KpiSettingsUpdate(target=10, baseline=30), actor="t"
    )
    newer = scorecard_service.load_spec(session, TemplateSpec.model_validate(spec))
    session.commit()
    assert newer is not None

    assert (
        f"/clusters/{setting.cluster.id}/upgrade/{newer.id}"
        in facilitator.get(f"/clusters/{setting.cluster.id}/setup").text
    )
    preview = facilitator.get(f"/clusters/{setting.cluster.id}/upgrade/{newer.id}").text
    assert "Access to finance" in preview and "guarantee-fund" in preview and "loan-repayment-period" in preview
    done = facilitator.post(
        f"/clusters/{setting.cluster.id}/upgrade/{newer.id}", data=csrf(facilitator), follow_redirects=False
    )
    assert done.status_code == 303
    fresh(session)
    cluster = cluster_service.get_cluster(session, setting.cluster.id or 0)
    assert cluster.template_version_id == newer.id
    scorecard = cluster_service.scorecard(session, cluster)
    assert scorecard.kpi("guarantee-fund") is not None
    assert scorecard.kpi("loan-repayment-period").csf_key == "financial-market-sophistication"  # type: ignore[union-attr]
    kept = scorecard.kpi("non-performing-loans")
    assert kept is not None and (kept.baseline, kept.target) == (30.0, 10.0)  # the cluster's own settings stay
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "template_upgraded")).first() is not None

    # Back to the older version: refused with the versions named, in the reader's language; nothing changes.
    back = facilitator.post(
        f"/clusters/{setting.cluster.id}/upgrade/{current.id}",
        data=csrf(facilitator),
        headers={"Accept-Language": "es"},
        follow_redirects=False,
    )
    assert back.status_code == 409
    assert f"La versión {current.version} de {current.key} no es una versión más reciente" in back.text
    fresh(session)
    assert cluster_service.get_cluster(session, setting.cluster.id or 0).template_version_id == newer.id


# --- proposals ------------------------------------------------------------------------------------


def _proposal(session: Session, setting: Setting, title: str = "Joint purchases") -> IndicatorProposal:
    proposal = proposal_service.propose(
        session,
        setting.members[0],
        ProposalCreate(csf_key=COSTS, title=title, question="How many joint purchases did you make?", kpi_type="count"),
        scorecard=cluster_service.scorecard(session, setting.cluster),
        round_id=setting.round.id,
        actor="member",
    )
    session.commit()
    return proposal


def test_accepting_a_reworded_proposal_adds_it_to_the_scorecard(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    proposal = _proposal(session, setting)
    assert "Joint purchases" in facilitator.get(f"/clusters/{setting.cluster.id}/proposals").text
    response = facilitator.post(
        f"/clusters/{setting.cluster.id}/proposals/{proposal.id}",
        data={
            "decision": "accept",
            "title": "Joint purchases of raw materials",
            "question": "How many?",
            "unit": "purchases",
            **csrf(facilitator),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    fresh(session)
    proposal = session.get(IndicatorProposal, proposal.id)
    assert proposal is not None and proposal.status == "accepted"
    assert proposal.kpi_key == "own-joint-purchases-of-raw-materials"
    kpi = cluster_service.scorecard(session, setting.cluster).kpi(proposal.kpi_key)
    assert kpi is not None and kpi.is_custom and kpi.level == "member" and kpi.question == "How many?"
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity_id == proposal.id))]
    assert {"indicator_reworded", "indicator_accepted"} <= set(actions)
    again = facilitator.post(
        f"/clusters/{setting.cluster.id}/proposals/{proposal.id}",
        data={"decision": "decline", "reason": "x", **csrf(facilitator)},
    )
    assert again.status_code == 409


def test_wording_that_would_break_the_odk_form_is_refused_with_the_reason(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    proposal = _proposal(session, setting)
    url = f"/clusters/{setting.cluster.id}/proposals/{proposal.id}"
    for decision in ("save", "accept"):
        data = {"decision": decision, "title": "Joint purchases", "question": "How many ${x}?", **csrf(facilitator)}
        reply = facilitator.post(url, data=data)
        assert reply.status_code == 422
        assert "This indicator would break the ODK form" in reply.text and "reference to another question" in reply.text
    fresh(session)
    unchanged = session.get(IndicatorProposal, proposal.id)
    assert unchanged is not None and unchanged.status == "proposed"
    assert unchanged.question == "How many joint purchases did you make?"


def test_declining_needs_a_reason_which_the_member_then_reads(
    app: FastAPI, facilitator: TestClient, setting: Setting, session: Session
) -> None:
    proposal = _proposal(session, setting)
    url = f"/clusters/{setting.cluster.id}/proposals/{proposal.id}"
    no_reason = facilitator.post(url, data={"decision": "decline", "reason": " ", **csrf(facilitator)})
    assert no_reason.status_code == 422 and "Please tell the member why." in no_reason.text
    reason = "We count joint purchases already under buying consortia."
    assert facilitator.post(url, data={"decision": "decline", "reason": reason, **csrf(facilitator)}).status_code == 200
    member = TestClient(app)
    link = factories.member_link(session, setting.members[0])
    session.commit()
    assert member.get(link, follow_redirects=False).status_code == 303
    assert reason in member.get(f"/rounds/{setting.round.id}/proposals").text


def test_a_proposal_of_another_cluster_is_not_found(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    other = factories.cluster(session)
    stranger = factories.participant(session, other)
    proposal = proposal_service.propose(
        session,
        stranger,
        ProposalCreate(csf_key=COSTS, title="Elsewhere"),
        scorecard=cluster_service.scorecard(session, other),
        round_id=None,
        actor="m",
    )
    session.commit()
    response = facilitator.post(
        f"/clusters/{setting.cluster.id}/proposals/{proposal.id}",
        data={"decision": "decline", "reason": "no", **csrf(facilitator)},
    )
    assert response.status_code == 404


# --- rounds ---------------------------------------------------------------------------------------


def test_round_page_status_values_and_response_rate(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    answer(session, setting.round, setting.members[0], {LOANS: 4})
    page = facilitator.get(f"/rounds/{setting.round.id}/manage").text
    assert "of 4 participants submitted" in page and "(25%)" in page
    assert page.count("not started") == 3

    value = facilitator.post(
        f"/rounds/{setting.round.id}/kpi-values/non-performing-loans",
        data={"value": "12", "note": "Partner banks' report, June", **csrf(facilitator)},
        follow_redirects=False,
    )
    assert value.status_code == 303
    fresh(session)
    stored = {v.kpi_key: v for v in round_service.kpi_values(session, setting.round)}
    assert (
        stored["non-performing-loans"].value == 12
        and stored["non-performing-loans"].note == "Partner banks' report, June"
    )
    refused = facilitator.post(
        f"/rounds/{setting.round.id}/kpi-values/business-marketing-plans", data={"value": "3", **csrf(facilitator)}
    )
    assert refused.status_code == 422  # members answer that one

    for status, expected in (("closed", "closed"), ("open", "open")):
        r = facilitator.post(
            f"/rounds/{setting.round.id}/status",
            data={"status": status, "confirmed": "yes", **csrf(facilitator)},
            follow_redirects=False,
        )
        assert r.status_code == 303
        fresh(session)
        assert setting.round.status == expected


def test_new_round_from_the_rounds_page(facilitator: TestClient, setting: Setting, session: Session) -> None:
    response = facilitator.post(
        f"/clusters/{setting.cluster.id}/rounds", data={"label": "2026 H2", **csrf(facilitator)}, follow_redirects=False
    )
    assert response.status_code == 303
    fresh(session)
    labels = [r.label for r in round_service.list_rounds(session, setting.cluster)]
    assert labels == ["2026 H1", "2026 H2"]
    assert "2026 H2" in facilitator.get(f"/clusters/{setting.cluster.id}/rounds").text


def test_printed_member_links_and_qr_codes_let_members_in(
    app: FastAPI, facilitator: TestClient, setting: Setting
) -> None:
    def confirmed(who: str) -> str:
        url = f"/rounds/{setting.round.id}/member-links"
        confirmation = facilitator.get(url, params={"who": who, "how": "print"}).text
        planned = re.search(r'name="planned_ids" value="([^"]*)"', confirmation)
        assert planned is not None
        return facilitator.post(url, data={"who": who, "planned_ids": planned.group(1), **csrf(facilitator)}).text

    sheet = confirmed("missing")
    links = re.findall(r'href="http://[^"]+(/m/[^"]+)"', sheet)
    assert len(links) == 4 and sheet.count('<img src="data:image/svg+xml') == 4
    member = TestClient(app)
    assert member.get(links[0], follow_redirects=False).status_code == 303
    one = confirmed(str(setting.members[1].id))
    assert len(re.findall(r'href="http://[^"]+(/m/[^"]+)"', one)) == 1 and "Firm 1" in one


def test_join_code_for_the_room_works(app: FastAPI, facilitator: TestClient, setting: Setting) -> None:
    page = facilitator.post(f"/rounds/{setting.round.id}/join-code", data=csrf(facilitator)).text
    code = re.search(r'<p class="code"[^>]*>([A-Z0-9-]+)</p>', page)
    assert code is not None
    newcomer = TestClient(app)
    token = newcomer.get("/api/v1/me").json()["csrf_token"]
    joined = newcomer.post(
        "/join",
        data={"code": code.group(1), "person_name": "Nok", "organisation": "New Noodles", "csrf_token": token},
        follow_redirects=False,
    )
    assert joined.status_code == 303


# --- the session screen ---------------------------------------------------------------------------


def test_live_fragment_answers_304_until_something_changes(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    page = facilitator.get(f"/rounds/{setting.round.id}/session")
    etag = re.search(r'data-etag="(?:&#34;|&quot;)([0-9a-f]+)', page.text)
    assert etag is not None
    url = f"/rounds/{setting.round.id}/session/live"
    htmx = {"HX-Request": "true"}
    first = facilitator.get(url, headers=htmx)
    assert first.status_code == 200 and first.headers["ETag"] == f'"{etag.group(1)}"'
    assert '<span class="count">0</span>' in first.text
    unchanged = facilitator.get(url, headers={**htmx, "If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""

    answer(session, setting.round, setting.members[0], {LOANS: 5, COSTS: 2})
    changed = facilitator.get(url, headers={**htmx, "If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    assert '<span class="count">1</span>' in changed.text
    assert changed.text.lstrip().startswith('<div id="live"')  # the fragment only, for htmx to swap
    # In Egypt the count, the rating points and how many gave each are in Arabic-Indic digits, as the rest.
    egypt = facilitator.get(url, headers={**htmx, "Accept-Language": "ar-EG"}).text
    assert '<span class="count">\u0661</span>' in egypt
    assert '<tr><th scope="row">\u0665</th>' in egypt and '<td class="n">\u0661</td>' in egypt


def test_etag_needs_no_process_state(settings: object, client: TestClient, setting: Setting, session: Session) -> None:
    """Two app processes behind a load balancer: each answers the other's ETag with 304."""
    other_app = create_app(settings)  # type: ignore[arg-type]
    clients = [staff_client(app, session, "facilitator", setting.cluster) for app in (client.app, other_app)]  # type: ignore[arg-type]
    etags = [http.get(f"/rounds/{setting.round.id}/session/live").headers["ETag"] for http in clients]
    assert etags[0] == etags[1]


def test_scores_distribution_and_comments_with_disagreement_first(
    facilitator: TestClient, observer: TestClient, setting: Setting, session: Session
) -> None:
    # Costs: 1, 1, 5, 5 -> a room in two camps; loans: 4, 4, 4, 5 -> near agreement.
    for member, cost, loans in zip(setting.members, (1, 1, 5, 5), (4, 4, 4, 5), strict=True):
        answer(session, setting.round, member, {COSTS: cost, LOANS: loans}, comment=f"because {cost}")
    page = facilitator.get(f"/rounds/{setting.round.id}/session").text
    topics = re.findall(r'<li class="topic( contested)?" id="topic-([a-z-]+)"', page)
    assert topics[0] == (" contested", COSTS)
    assert [key for _, key in topics].index(LOANS) < len(topics) - 1
    assert "because 5" in page  # members' comments, for those who may read answers
    assert '<img src="data:image/svg+xml;base64,' in page and "Perspective scores (0\u2013100)" in page
    assert "because 5" not in observer.get(f"/rounds/{setting.round.id}/session").text


def test_notes_and_actions_carry_over_to_the_next_round(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    round_ = setting.round
    note = facilitator.post(
        f"/rounds/{round_.id}/notes",
        data={"csf_key": COSTS, "text": "Split on costs: buy together?", **csrf(facilitator)},
        headers={"HX-Request": "true"},
    )
    assert note.status_code == 200 and note.text.lstrip().startswith('<section id="plan"')
    for title in ("Visit two buying consortia", "Draft the joint purchase rules"):
        facilitator.post(
            f"/rounds/{round_.id}/actions",
            data={"title": title, "owner": "Somchai", "due_date": "2026-09-30", "csf_key": COSTS, **csrf(facilitator)},
        )
    bad = facilitator.post(f"/rounds/{round_.id}/actions", data={"title": "x", "due_date": "soon", **csrf(facilitator)})
    assert bad.status_code == 422
    fresh(session)
    done_id = session.exec(select(ActionItem.id).where(ActionItem.title == "Draft the joint purchase rules")).one()
    facilitator.post(f"/rounds/{round_.id}/actions/{done_id}", data={"status": "done", **csrf(facilitator)})

    fresh(session)
    round_service.set_status(session, round_, RoundStatus.closed, actor="t")
    next_round = round_service.create_round(session, setting.cluster, RoundCreate(label="2026 H2"))
    session.commit()
    page = facilitator.get(f"/rounds/{next_round.id}/session").text
    carried = page.split('id="carried-actions"')[1].split("</table>")[0]
    assert "Visit two buying consortia" in carried and "Draft the joint purchase rules" not in carried
    assert "Split on costs: buy together?" in page.split('id="previous-notes"')[1]
    # The note is a note of the earlier round, not of this one.
    assert "Split on costs" not in page.split('id="session-notes"')[1].split("</ul>")[0]
    fresh(session)
    assert session.exec(select(ReflectionNote)).one().round_id == round_.id
    audited = set(session.exec(select(AuditEvent.action).where(AuditEvent.cluster_id == setting.cluster.id)))
    assert {"reflection_note", "action_added", "action_status"} <= audited


def test_a_note_is_corrected_or_taken_back_and_the_audit_trail_keeps_what_it_said(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    round_ = setting.round
    kept, dropped = (
        dashboard_service.add_note(session, round_, csf_key=COSTS, text=text, actor="t")
        for text in ("Split on cots", "Said by mistake")
    )
    session.commit()
    url = f"/rounds/{round_.id}/notes"

    corrected = facilitator.post(
        f"{url}/{kept.id}", data={"text": "Split on costs", **csrf(facilitator)}, headers={"HX-Request": "true"}
    )
    assert corrected.status_code == 200 and corrected.text.lstrip().startswith('<section id="plan"')
    notes = corrected.text.split('id="session-notes"')[1].split("</ul>")[0]
    assert "Split on costs" in notes and "Split on cots" not in notes
    empty = facilitator.post(f"{url}/{kept.id}", data={"text": "  ", **csrf(facilitator)})
    assert empty.status_code == 422 and "The note is empty." in empty.text
    removed = facilitator.post(f"{url}/{dropped.id}", data={"remove": "1", **csrf(facilitator)}, follow_redirects=False)
    assert removed.status_code == 303 and removed.headers["location"].endswith("/session#notes")

    fresh(session)
    assert [n.text for n in session.exec(select(ReflectionNote))] == ["Split on costs"]
    events = {
        e.action: e
        for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "reflection_note"))
        if e.action != "reflection_note"
    }
    assert events["reflection_note_changed"].before["text"] == "Split on cots"
    assert events["reflection_note_changed"].after["text"] == "Split on costs"
    assert events["reflection_note_removed"].before["text"] == "Said by mistake"
    assert events["reflection_note_removed"].after is None


def test_a_note_of_another_round_or_an_observer_cannot_change_notes(
    facilitator: TestClient, observer: TestClient, setting: Setting, session: Session
) -> None:
    earlier = dashboard_service.add_note(session, setting.round, csf_key=None, text="Earlier round", actor="t")
    later_round = round_service.create_round(session, setting.cluster, RoundCreate(label="2026 H2"))
    session.commit()
    elsewhere = facilitator.post(
        f"/rounds/{later_round.id}/notes/{earlier.id}", data={"remove": "1", **csrf(facilitator)}
    )
    assert elsewhere.status_code == 404
    watching = observer.post(f"/rounds/{setting.round.id}/notes/{earlier.id}", data={"remove": "1", **csrf(observer)})
    assert watching.status_code in (403, 404)
    fresh(session)
    assert session.exec(select(ReflectionNote.text)).all() == ["Earlier round"]


def test_an_action_of_another_cluster_cannot_be_changed(
    facilitator: TestClient, setting: Setting, session: Session
) -> None:
    other = factories.cluster(session)
    other_round = factories.open_round(session, other)
    action = dashboard_service.add_action(
        session, other_round, title="Theirs", owner="", due_date=None, csf_key=None, actor="t"
    )
    session.commit()
    response = facilitator.post(
        f"/rounds/{setting.round.id}/actions/{action.id}", data={"status": "done", **csrf(facilitator)}
    )
    assert response.status_code == 404
    fresh(session)
    assert action.status == "open"


def test_dashboard_scores_equal_the_scoring_api_for_every_round(setting: Setting, session: Session) -> None:
    """The dashboard fetches all rounds at once; its numbers must be the API's, round by round."""
    answer(
        session,
        setting.round,
        setting.members[0],
        {LOANS: 2, COSTS: 4},
        answers={"business-marketing-plans": True, "loan-repayment-period": 24},
    )
    answer(
        session,
        setting.round,
        setting.members[1],
        {LOANS: 5},
        answers={"business-marketing-plans": False, "loan-repayment-period": 36},
    )
    round_service.set_status(session, setting.round, RoundStatus.closed, actor="t")
    second = factories.open_round(session, setting.cluster, label="2026 H2")
    answer(
        session,
        second,
        setting.members[2],
        {LOANS: 3, COSTS: 3},
        answers={"business-marketing-plans": True, "loan-repayment-period": 12},
    )
    view = dashboard_service.session_view(session, second, with_comments=False)
    assert [r.round.label for r in view.history] == ["2026 H1", "2026 H2"]
    for result in view.history:
        api = scoring_service.round_scores(session, result.round)
        assert result.submitted == api.responses_submitted
        assert result.scores.overall.value == pytest.approx(api.overall.value)
        for p in api.perspectives:
            assert result.scores.perspectives[p.key].score.value == pytest.approx(p.score.value)
        for k in api.kpis:
            assert result.values[k.key] == pytest.approx(k.value)


# --- print and exports ----------------------------------------------------------------------------


def test_print_view_and_exports(
    facilitator: TestClient, observer: TestClient, setting: Setting, session: Session
) -> None:
    answer(
        session,
        setting.round,
        setting.members[0],
        {LOANS: 4, COSTS: 3},
        comment="=cmd|' /C calc'!A0",
        answers={"loan-repayment-period": 24.5, "business-marketing-plans": True},
    )
    answer(session, setting.round, setting.members[1], {LOANS: 5}, answers={"business-marketing-plans": False})
    dashboard_service.add_action(
        session, setting.round, title="Call the bank", owner="Nok", due_date=date(2027, 1, 15), csf_key=LOANS, actor="t"
    )
    dashboard_service.add_note(session, setting.round, csf_key=LOANS, text="Banks want plans", actor="t")
    session.commit()
    printed = facilitator.get(f"/rounds/{setting.round.id}/print").text
    assert "Call the bank" in printed and "Critical success factors" in printed
    assert "Jan 15, 2027" in printed  # dates as the reader writes them

    answers_csv = facilitator.get(f"/rounds/{setting.round.id}/export/answers.csv")
    assert answers_csv.headers["content-disposition"].endswith('answers.csv"')
    rows = list(csv.DictReader(io.StringIO(answers_csv.text)))
    by_key = {(r["organisation"], r["key"]): r for r in rows}
    assert by_key[("Firm 0", "loan-repayment-period")]["value"] == "24.5"
    # Yes/no in the reader's words, not 1 and 0.
    assert by_key[("Firm 0", "business-marketing-plans")]["value"] == "Yes"
    assert by_key[("Firm 1", "business-marketing-plans")]["value"] == "No"
    assert by_key[("Firm 0", LOANS)]["value"] == "4" and by_key[("Firm 0", LOANS)]["comment"].startswith("'=")
    assert {r["organisation"] for r in rows} == {"Firm 0", "Firm 1"}

    scores = list(csv.DictReader(io.StringIO(facilitator.get(f"/rounds/{setting.round.id}/export/scores.csv").text)))
    api = scoring_service.round_scores(session, setting.round)
    overall = next(r for r in scores if r["level"] == "overall")
    assert overall["score"] == str(round(api.overall.value, 2))  # two decimals, not 56.453812210648145
    assert all(len(r["score"].partition(".")[2]) <= 2 for r in scores)

    wide = list(
        csv.DictReader(io.StringIO(facilitator.get(f"/rounds/{setting.round.id}/export/answers-wide.csv").text))
    )
    assert [(r["organisation"], r["business-marketing-plans"], r[f"rating:{LOANS}"]) for r in wide] == [
        ("Firm 0", "Yes", "4"),
        ("Firm 1", "No", "5"),
    ]

    xlsx = facilitator.get(f"/rounds/{setting.round.id}/export.xlsx")
    workbook = load_workbook(io.BytesIO(xlsx.content))
    assert workbook.sheetnames == ["Scores", "Answers", "Answers by member", "Notes", "Action plan"]
    assert workbook["Answers"].max_row == len(rows) + 1
    submitted = [row[4] for row in workbook["Answers"].iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(when, datetime) for when in submitted)  # real dates, not text
    score_cells = [row[4] for row in workbook["Scores"].iter_rows(min_row=2, values_only=True) if row[4] is not None]
    assert score_cells and all(isinstance(v, int | float) and round(v, 2) == v for v in score_cells)
    assert [row[2] for row in workbook["Notes"].iter_rows(min_row=2, values_only=True)] == ["Banks want plans"]
    [action] = workbook["Action plan"].iter_rows(min_row=2, values_only=True)
    assert action[1:4] == ("Call the bank", "Nok", datetime(2027, 1, 15))
    # Observers see scores, not individual answers.
    assert observer.get(f"/rounds/{setting.round.id}/export/scores.csv").status_code == 200
    assert observer.get(f"/rounds/{setting.round.id}/export/answers.csv").status_code == 404
    assert observer.get(f"/rounds/{setting.round.id}/export.xlsx").status_code == 404


def test_members_do_not_reach_the_facilitator_pages(app: FastAPI, setting: Setting, session: Session) -> None:
    member = TestClient(app)
    link = factories.member_link(session, setting.members[0])
    session.commit()
    assert member.get(link, follow_redirects=False).status_code == 303
    for path in (f"/clusters/{setting.cluster.id}/setup", f"/rounds/{setting.round.id}/session"):
        assert member.get(path).status_code == 404
