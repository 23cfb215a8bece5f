"""Getting members their personal links: who needs one, who would lose a working one, issuing them, and the
message each receives (by email or copied into WhatsApp, LINE or an SMS) in their own language.

A bulk action never touches members who already submitted, nor those whose link still works: only a link asked
for one person replaces a working one, after a confirmation that names them."""

from dataclasses import dataclass, field

import segno
from sqlmodel import Session, col, or_, select

from app import mail
from app.auth import service as auth_service
from app.auth.models import MemberLink
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.config import Settings
from app.errors import InvalidInput
from app.responses.models import Response
from app.rounds.models import Round
from app.timeutil import utcnow
from app.web import render_mail

MISSING = "missing"  # the bulk choice: everyone active who has not submitted and has no working link


@dataclass
class LinkPlan:
    issue: list[Participant] = field(default_factory=list)
    # Among `issue`: whose current, working link stops working.
    loses: list[Participant] = field(default_factory=list)
    # Left out of a bulk action.
    submitted: list[Participant] = field(default_factory=list)
    working: list[Participant] = field(default_factory=list)
    without_email: list[Participant] = field(default_factory=list)

    @property
    def ids(self) -> str:
        """What the confirmation showed, posted back: a plan that changed meanwhile is shown again."""
        return ",".join(str(p.id) for p in self.issue) + "|" + ",".join(str(p.id) for p in self.loses)


def with_working_link(session: Session, cluster: Cluster) -> set[int]:
    now = utcnow()
    statement = (
        select(MemberLink.participant_id)
        .join(Participant, col(Participant.id) == col(MemberLink.participant_id))
        .where(
            Participant.cluster_id == cluster.id,
            col(MemberLink.revoked_at).is_(None),
            or_(col(MemberLink.expires_at).is_(None), col(MemberLink.expires_at) > now),
        )
    )
    return set(session.exec(statement))


def submitted_ids(session: Session, round_: Round) -> set[int]:
    statement = select(Response.participant_id).where(Response.round_id == round_.id, Response.status == "submitted")
    return set(session.exec(statement))


def plan(session: Session, round_: Round, *, who: str, by_email: bool) -> LinkPlan:
    """`who`: MISSING, or one participant's id (a reissue the facilitator asked for by name)."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    active = [p for p in cluster_service.list_participants(session, cluster) if p.active]
    working, submitted = with_working_link(session, cluster), submitted_ids(session, round_)
    result = LinkPlan()
    if who != MISSING:
        chosen = [p for p in active if str(p.id) == who]
        if not chosen:
            raise InvalidInput("No such participant in this cluster.")
        if by_email and not chosen[0].email:
            raise InvalidInput(
                "%(name)s has no email address: print or copy their link instead.", name=chosen[0].organisation
            )
        result.issue = chosen
        result.loses = [p for p in chosen if p.id in working]
        return result
    for person in active:
        if person.id in submitted:
            result.submitted.append(person)
        elif person.id in working:
            result.working.append(person)
        elif by_email and not person.email:
            result.without_email.append(person)
        else:
            result.issue.append(person)
    return result


@dataclass
class IssuedLink:
    participant: Participant
    url: str
    qr: str
    message: str


def issue(session: Session, settings: Settings, round_: Round, planned: LinkPlan, *, locale: str) -> list[IssuedLink]:
    """New links (earlier ones stop working) and each member's message, in the member's language or `locale`."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    issued = []
    for person in planned.issue:
        url = f"{settings.public_url}/m/{auth_service.issue_member_link(session, person.id or 0)}"
        _subject, message = _message(cluster, round_, person, url, locale)
        issued.append(IssuedLink(person, url, segno.make(url, error="m").svg_data_uri(scale=4), message))
    return issued


def _message(cluster: Cluster, round_: Round, person: Participant, url: str, locale: str) -> tuple[str, str]:
    return render_mail(
        "mail/member_link.txt",
        person.language or locale,
        name=person.person_name or person.organisation,
        cluster=cluster.name,
        round=round_.label,
        closes_on=round_.closes_on,
        url=url,
    )


def email(session: Session, settings: Settings, round_: Round, issued: list[IssuedLink], *, locale: str) -> None:
    """One message per member over one connection; MailUnavailable undoes the links (the request rolls back)."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    mails = []
    for link in issued:
        assert link.participant.email is not None
        subject, body = _message(cluster, round_, link.participant, link.url, locale)
        mails.append(
            mail.Mail(
                to=link.participant.email, subject=subject, body=body, language=link.participant.language or locale
            )
        )
    mail.send(settings, mails)
