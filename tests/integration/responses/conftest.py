"""A cluster with one member and an open round: where a member's form is answered."""

import pytest
from sqlmodel import Session

from app.clusters.models import Cluster, Participant
from app.rounds.models import Round
from tests import factories


@pytest.fixture
def setting(session: Session) -> tuple[Cluster, Participant, Round]:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    round_ = factories.open_round(session, cluster)
    session.commit()
    return cluster, member, round_
