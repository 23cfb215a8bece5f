"""One workshop's submissions, as ODK Collect makes them from ClusterScore's enumerator form: the scenario
`make test-odk` sends to a real ODK Central (whose exports are committed under tests/fixtures/interop/)
and the regular suite imports back. Same cluster, same members (same ids on a fresh database), same answers.

- Mae Ploy Foods answers once, then edits it in Collect (meta/deprecatedID);
- Chiang Mai Sauces sends twice: the newer submission counts;
- Lampang Rice Mill's submission is rejected by a reviewer in Central (Kobo: not approved);
- Songkhla Seafood's is marked as having issues (Kobo: on hold): imported, with a note;
- Isan Chili Paste's says 150 % customer satisfaction (Central does not check constraints): skipped.
"""

from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from sqlmodel import Session, col, select

from app.auth.models import User
from app.clusters.models import Cluster, Participant
from app.responses.models import Answer, CsfRating, Response
from app.rounds.models import Round
from tests import factories

XF = "{http://www.w3.org/2002/xforms}"
MEMBERS = (
    ("Mae Ploy Foods", "Somchai"),
    ("Chiang Mai Sauces", ""),
    ("Lampang Rice Mill", "Nok"),
    ("Songkhla Seafood", "Arun"),
    ("Isan Chili Paste", ""),
)


@dataclass(frozen=True)
class Sent:
    member: int  # index into MEMBERS
    instance_id: str
    values: dict[str, str]
    deprecated_id: str = ""
    review: str = ""  # what a reviewer in Central does with it: "rejected", "hasIssues"


FULL = {
    "k_business_marketing_plans": "yes",
    "k_loan_repayment_period": "18.5",
    "r_ease_of_access_to_loans": "4",
    "c_ease_of_access_to_loans": 'Banks know us now, "finally"; ธนาคารรู้จักเรา',
    "k_lean_manufacturing": "no",
    "r_cost_control": "3",
    "k_customer_satisfaction": "85",
    "k_returns_complaints": "2.5",
    "k_core_skills_participants": "12",
    "k_business_growth": "-3.5",
    "r_visionary_leadership": "5",
    "c_visionary_leadership": "Two lines:\nplanning, then doing",
    "k_new_products_processes": "0",
    "r_innovation_levels": "2",
}
UUID = "uuid:5f0c2a4e-0a11-4c1e-9a1d-00000000000{}".format
SENT = (
    Sent(0, UUID(1), FULL),
    Sent(1, UUID(2), {"k_business_marketing_plans": "no", "r_cost_control": "2"}),
    Sent(2, UUID(3), {"k_it_use": "yes", "r_accessibility": "4"}, review="rejected"),
    Sent(3, UUID(4), {"k_gmp_haccp_certified": "yes", "k_staff_turnover": "7"}, review="hasIssues"),
    Sent(1, UUID(5), {"k_business_marketing_plans": "yes", "r_cost_control": "4", "c_cost_control": "Better now"}),
    Sent(4, UUID(6), {"k_customer_satisfaction": "150", "r_cost_control": "1"}),
    Sent(0, UUID(7), {**FULL, "k_lean_manufacturing": "yes", "r_cost_control": "4"}, deprecated_id=UUID(1)),
)
# Members whose answers a correct import files (the newest submission, not rejected, valid); by index.
IMPORTED = (0, 1, 3)


@dataclass
class Workshop:
    cluster: Cluster
    members: list[Participant]
    facilitator: User
    rounds: list[Round] = field(default_factory=list)


def workshop(session: Session, *, rounds: int) -> Workshop:
    """The cluster with its members and `rounds` open rounds, on a fresh database (members get ids 1 to 5,
    which the committed exports name in participant_id)."""
    cluster = factories.cluster(session, name="Bangkok Food Processing")
    members = [factories.participant(session, cluster, organisation=o, person_name=p) for o, p in MEMBERS]
    assert [m.id for m in members] == list(range(1, len(MEMBERS) + 1)), (
        "the exports name members 1 to 5: use a fresh database"
    )
    facilitator = factories.user(session, grants=(("facilitator", cluster),))
    setting = Workshop(cluster, members, facilitator)
    setting.rounds = [factories.open_round(session, cluster, label=f"2026 H{n + 1}") for n in range(rounds)]
    session.commit()
    return setting


def instance(form: ElementTree.Element, sent: Sent, members: list[Participant]) -> bytes:
    """The instance as Collect writes it: the form's primary instance with the answers filled in."""
    model = next(form.iter(f"{XF}model"))
    root = ElementTree.fromstring(ElementTree.tostring(next(iter(next(model.iter(f"{XF}instance"))))))
    values = {**sent.values, "participant_id": str(members[sent.member].id), "instanceID": sent.instance_id}
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in values:
            element.text = values[name]
    if sent.deprecated_id:
        meta = next(e for e in root.iter() if e.tag.endswith("}meta"))
        ElementTree.SubElement(meta, f"{XF}deprecatedID").text = sent.deprecated_id
    return ElementTree.tostring(root, encoding="utf-8")


def answers(session: Session, round_id: int, participant_id: int) -> dict[str, object]:
    """A member's response to a round as the database holds it, field by field."""
    session.commit()  # a fresh read: SQLite keeps a transaction's snapshot until it ends
    response = session.exec(
        select(Response).where(Response.round_id == round_id, Response.participant_id == participant_id)
    ).first()
    if response is None:
        return {}
    found: dict[str, object] = {"status": response.status}
    for answer in session.exec(select(Answer).where(Answer.response_id == response.id).order_by(col(Answer.kpi_key))):
        found[answer.kpi_key] = (answer.value_num, answer.value_text)
    for rating in session.exec(select(CsfRating).where(CsfRating.response_id == response.id)):
        found[f"rating:{rating.csf_key}"] = (rating.rating, rating.comment)
    return found


FORMATS = {
    "central.csv": "ODK Central CSV export, group names in the headers",
    "central-no-groups.csv": "ODK Central CSV export without group names",
    "central.csv.zip": "ODK Central .csv.zip export, group names in the headers",
    "kobo-xml-groups.csv": "KoboToolbox CSV export, XML values and headers",
    "kobo-labels.csv": "KoboToolbox CSV export, labels as headers",
    "kobo-xml.xlsx": "KoboToolbox XLSX export, XML values and headers",
    "kobo-labels-groups.xlsx": "KoboToolbox XLSX export, labels as headers",
}


def assert_report(report: dict[str, Any], name: str) -> None:
    """What each of the workshop's submissions becomes when the export `name` is imported: ODK Central lists
    the newest first, KoboToolbox the oldest; both show an edit in place of what it edited."""
    kobo, labels = name.startswith("kobo"), "labels" in name
    assert report["format"] == FORMATS[name]
    assert report["rows"] == 6 and report["accepted"] == 3 and report["skipped"] == 3
    assert report["ignored_columns"] == [] and report["ignored_files"] == []

    def key(index: int) -> tuple[str, str]:
        sent = SENT[index]
        organisation, person = MEMBERS[sent.member]
        who = (f"{organisation} ({person})" if person else organisation) if labels else str(sent.member + 1)
        return who, sent.instance_id.removeprefix("uuid:") if kobo else sent.instance_id

    newer = next(r["row"] for r in report["report"] if (r["participant"], r["instance_id"]) == key(4))
    rejected = "Not approved in KoboToolbox." if kobo else "Rejected by a reviewer in ODK Central."
    on_hold = (
        "On hold in KoboToolbox: imported, please check it."
        if kobo
        else "Marked as having issues in ODK Central: imported, please check it."
    )
    outcomes = {
        (r["participant"], r["instance_id"]): (r["outcome"], r["reasons"], r["notes"]) for r in report["report"]
    }
    assert outcomes == {
        key(6): ("accepted", [], []),
        key(4): ("accepted", [], []),
        key(1): ("skipped", [f"An older submission of this member: row {newer} is newer and is the one imported."], []),
        key(2): ("skipped", [rejected], []),
        key(3): ("accepted", [], [on_hold]),
        key(5): ("skipped", ["Question k_customer_satisfaction: Please enter a percentage between 0 and 100."], []),
    }
