"""A demo programme with realistic answers over three rounds, so every screen has something to show.

Deterministic (seeded) and idempotent: running it twice leaves one demo.
"""

import random
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from app.auth import service as auth_service
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Programme
from app.clusters.schemas import (
    ClusterCreate,
    CustomKpiCreate,
    KpiSettingsUpdate,
    OrganisationType,
    ParticipantCreate,
    ProgrammeCreate,
    ScorecardKpi,
    Stage,
    Typology,
)
from app.i18n.numbers import MACHINE
from app.responses import service as response_service
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft
from app.rounds import service as round_service
from app.rounds.schemas import KpiValueSet, RoundCreate, RoundStatus
from app.scorecards import service as scorecard_service

DEMO_PROGRAMME = "Demo: Regional Cluster Programme"
ACTOR = "demo-seed"
ROUNDS = [
    ("2025 H1", date(2025, 1, 1), date(2025, 6, 30)),
    ("2025 H2", date(2025, 7, 1), date(2025, 12, 31)),
    ("2026 H1", date(2026, 1, 1), date(2026, 6, 30)),
]


@dataclass(frozen=True)
class DemoCluster:
    name: str
    template_key: str
    sector: str
    country: str
    region: str
    typology: Typology
    stage: Stage
    health: float  # 0-1: how well the initiative is doing at the start
    firms: tuple[str, ...]
    institutions: tuple[tuple[str, OrganisationType], ...]
    contested_csf: str | None = None  # where members will disagree, to give the session a topic


CLUSTERS = [
    DemoCluster(
        "Thai Food Cluster (Bangkok & Central)",
        "thai-food-cluster",
        "Food processing",
        "TH",
        "Bangkok",
        Typology.hub_and_spoke,
        Stage.growing,
        0.45,
        (
            "Siam Rice Products",
            "Chao Phraya Canning",
            "Golden Chili Sauce Co.",
            "Ayutthaya Noodle Works",
            "Bang Pa-in Dairy",
            "Krungthep Frozen Foods",
            "Lotus Snack Factory",
            "Nonthaburi Fruit Processors",
            "Sukhumvit Spice Traders",
            "Pathum Thani Bakery",
        ),
        (
            ("National Food Institute", OrganisationType.research),
            ("Thai Food Processors' Association", OrganisationType.association),
            ("SME Development Bank", OrganisationType.finance),
        ),
        contested_csf="visionary-leadership",
    ),
    DemoCluster(
        "Chiang Mai Processed Fruit Cluster",
        "thai-food-cluster",
        "Food processing",
        "TH",
        "Chiang Mai",
        Typology.italianate,
        Stage.emerging,
        0.35,
        (
            "Doi Suthep Dried Fruits",
            "Lanna Longan Co.",
            "Ping River Juices",
            "Mae Rim Preserves",
            "San Kamphaeng Snacks",
            "Northern Orchard Cooperative",
            "Chiang Mai Jam House",
        ),
        (
            ("Chiang Mai University Food Science", OrganisationType.research),
            ("Provincial Industry Office", OrganisationType.government),
        ),
        contested_csf="supply-chain-integration",
    ),
    DemoCluster(
        "Songkhla Seafood Cluster",
        "thai-food-cluster",
        "Food processing",
        "TH",
        "Songkhla",
        Typology.satellite,
        Stage.mature,
        0.55,
        (
            "Andaman Tuna Canners",
            "Hat Yai Frozen Shrimp",
            "Songkhla Fish Sauce",
            "Gulf Surimi Ltd.",
            "Southern Seafood Export",
            "Pattani Bay Processors",
            "Singora Marine Foods",
            "Lake Songkhla Crab",
        ),
        (
            ("Prince of Songkla University", OrganisationType.research),
            ("Fisheries Association of Songkhla", OrganisationType.association),
        ),
    ),
    DemoCluster(
        "Castellón Ceramic Tile Cluster",
        "scottish-enterprise-cluster",
        "Ceramic tiles",
        "ES",
        "Castellón",
        Typology.italianate,
        Stage.mature,
        0.6,
        (
            "Azulejos del Mediterráneo",
            "Cerámica Villarreal",
            "Esmaltes Onda",
            "Pavimentos Alcora",
            "Gres Castellón",
            "Fritas y Colores SA",
        ),
        (
            ("Instituto de Tecnología Cerámica", OrganisationType.research),
            ("ASCER", OrganisationType.association),
        ),
    ),
    DemoCluster(
        "Sinos Valley Footwear Cluster",
        "dti-cluster-monitoring",
        "Footwear",
        "BR",
        "Rio Grande do Sul",
        Typology.fordist,
        Stage.declining,
        0.4,
        (
            "Calçados Novo Hamburgo",
            "Couros Vale do Sinos",
            "Sapatos Campo Bom",
            "Solados Sapiranga",
            "Componentes Estância Velha",
            "Dois Irmãos Footwear",
        ),
        (("Assintecal", OrganisationType.association), ("SENAI Calçado", OrganisationType.training)),
    ),
    # Three more initiatives on the Thai template, so that a member or facilitator of one Thai
    # cluster has at least three other sharing clusters to be compared with (benchmarks never show
    # an aggregate of fewer), and the agency's heat map has rows to compare.
    DemoCluster(
        "Khon Kaen Rice & Cassava Cluster",
        "thai-food-cluster",
        "Food processing",
        "TH",
        "Khon Kaen",
        Typology.italianate,
        Stage.growing,
        0.5,
        (
            "Isan Rice Mill",
            "Khon Kaen Tapioca Starch",
            "Phon Cassava Chips",
            "Nam Phong Rice Crackers",
            "Ubolratana Organic Rice",
            "Mancha Khiri Flour",
        ),
        (("Khon Kaen University Agro-Industry", OrganisationType.research),),
    ),
    DemoCluster(
        "Surat Thani Coconut Products Cluster",
        "thai-food-cluster",
        "Food processing",
        "TH",
        "Surat Thani",
        Typology.satellite,
        Stage.emerging,
        0.3,
        (
            "Samui Coconut Oil",
            "Tapi River Coconut Milk",
            "Chaiya Salted Egg & Snacks",
            "Kanchanadit Coconut Sugar",
            "Phunphin Desiccated Coconut",
            "Don Sak Palm Foods",
        ),
        (("Surat Thani Rajabhat University", OrganisationType.research),),
    ),
    DemoCluster(
        "Nakhon Ratchasima Dairy Cluster",
        "thai-food-cluster",
        "Food processing",
        "TH",
        "Nakhon Ratchasima",
        Typology.hub_and_spoke,
        Stage.mature,
        0.6,
        (
            "Korat Milk Cooperative",
            "Pak Chong Yoghurt",
            "Wang Nam Khiao Cheese",
            "Sikhio Dairy Feed",
            "Khao Yai Ice Cream",
            "Muak Lek Milk Products",
            "Sung Noen Creamery",
        ),
        (("Dairy Farming Promotion Organisation", OrganisationType.government),),
    ),
]

# Indicators the clusters defined for themselves (seed Table 6), so the agency's observatory shows
# recurring ones: three clusters each count joint trade-fair or export missions in their own words.
CUSTOM_KPIS: dict[str, list[CustomKpiCreate]] = {
    "Thai Food Cluster (Bangkok & Central)": [
        CustomKpiCreate(
            key="joint-export-missions",
            csf_key="accessibility",
            title="Number of joint export missions",
            kpi_type="count",
            unit="missions",
        ),
        CustomKpiCreate(
            key="food-safety-trainings",
            csf_key="quality-of-goods-and-services",
            title="Food safety training sessions held",
            kpi_type="count",
            unit="sessions",
        ),
    ],
    "Chiang Mai Processed Fruit Cluster": [
        CustomKpiCreate(
            key="export-missions",
            csf_key="accessibility",
            title="Joint export missions organised",
            kpi_type="count",
            unit="missions",
        ),
    ],
    "Songkhla Seafood Cluster": [
        CustomKpiCreate(
            key="trade-missions",
            csf_key="accessibility",
            title="Joint export missions (member firms)",
            level="member",
            question="How many export missions did your firm join with other cluster firms this period?",
            kpi_type="count",
            aggregate="sum",
            unit="missions",
        ),
        CustomKpiCreate(
            key="haccp-trainings",
            csf_key="quality-of-goods-and-services",
            title="Food safety trainings held",
            kpi_type="count",
            unit="trainings",
        ),
    ],
    "Khon Kaen Rice & Cassava Cluster": [
        CustomKpiCreate(
            key="cassava-price-agreements",
            csf_key="supply-chain-integration",
            title="Price agreements with cassava growers",
            kpi_type="count",
            unit="agreements",
        ),
    ],
}

COMMENTS = {
    "low": [
        "We rarely see this in practice.",
        "Only the big firms benefit so far.",
        "Nothing has changed yet.",
    ],
    "mid": ["Some progress since the last meeting.", "It depends a lot on who you ask.", "Better, but slow."],
    "high": ["The joint projects really helped.", "Clearly stronger than a year ago.", "Works well for us."],
}


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _default_goal(kpi: ScorecardKpi, firms: int) -> tuple[float, float]:
    """Baseline and target a facilitator would set where the template leaves them to the cluster."""
    if kpi.type == "rating":
        low, high = 2.5, 4.0
    elif kpi.type == "percent" or kpi.aggregate == "share_yes":
        low, high = 30.0, 70.0
    elif kpi.per_member or kpi.type == "yes_no":
        low, high = float(round(firms * 0.2)), float(round(firms * 0.8))
    else:
        low, high = 10.0, 20.0
    return (high, low) if kpi.direction == "decrease" else (low, high)


# Members get their links in the language of their country (the interface follows it; they can switch).
MEMBER_LANGUAGE = {"TH": "th", "ES": "es", "BR": "pt"}


def _seed_cluster(session: Session, programme: Programme, demo: DemoCluster, rng: random.Random) -> Cluster:
    version = scorecard_service.latest_version(session, demo.template_key)
    assert version.id is not None and programme.id is not None
    cluster = cluster_service.create_cluster(
        session,
        programme,
        ClusterCreate(
            name=demo.name,
            sector=demo.sector,
            country=demo.country,
            region=demo.region,
            typology=demo.typology,
            stage=demo.stage,
            template_version_id=version.id,
            shares_benchmarks=True,
        ),
    )
    participants = [
        cluster_service.add_participant(
            session,
            cluster,
            ParticipantCreate(
                organisation=name, person_name=f"Manager, {name}", language=MEMBER_LANGUAGE.get(demo.country)
            ),
        )
        for name in demo.firms
    ] + [
        cluster_service.add_participant(
            session,
            cluster,
            ParticipantCreate(
                organisation=name,
                organisation_type=kind,
                person_name="Director",
                language=MEMBER_LANGUAGE.get(demo.country),
            ),
        )
        for name, kind in demo.institutions
    ]
    scorecard = cluster_service.scorecard(session, cluster)
    for kpi in scorecard.kpis():
        if kpi.baseline is None or kpi.target is None:
            baseline, target = _default_goal(kpi, len(demo.firms))
            cluster_service.update_kpi_settings(
                session, cluster, kpi.key, KpiSettingsUpdate(baseline=baseline, target=target), actor=ACTOR
            )
    for custom in CUSTOM_KPIS.get(demo.name, []):
        cluster_service.add_custom_kpi(session, cluster, custom, actor=ACTOR)
    scorecard = cluster_service.scorecard(session, cluster)

    for index, (label, start, end) in enumerate(ROUNDS):
        last = index == len(ROUNDS) - 1
        round_ = round_service.create_round(
            session, cluster, RoundCreate(label=label, period_start=start, period_end=end)
        )
        round_service.set_status(session, round_, RoundStatus.open, actor=ACTOR)
        health = demo.health + 0.08 * index
        # In the open round only part of the members have answered so far, and at least two have not (the
        # demo prints their links first: a newcomer sees a fresh form).
        answering = (
            participants[: min(max(3, int(len(participants) * 0.6)), len(participants) - 2)] if last else participants
        )
        for position, participant in enumerate(answering):
            firm_health = _clamp(health + rng.gauss(0, 0.12), 0.05, 0.95)
            answers = []
            for kpi in scorecard.kpis():
                if not scorecard.asks(kpi, participant.organisation_type):
                    continue
                if kpi.type == "yes_no":
                    value: bool | float = rng.random() < firm_health
                elif kpi.type == "percent":
                    value = round(_clamp(firm_health * 100 + rng.gauss(0, 12), 0, 100))
                elif kpi.type == "rating":
                    value = round(_clamp(1 + 4 * firm_health + rng.gauss(0, 0.5), 1, 5))
                else:
                    value = max(0, round(firm_health * 6 + rng.gauss(0, 1.5)))
                answers.append(AnswerIn(kpi_key=kpi.key, value=value))
            ratings = []
            for csf_key in (c.key for p in scorecard.perspectives for c in p.csfs):
                level = firm_health + rng.gauss(0, 0.1)
                if csf_key == demo.contested_csf:
                    level = 0.9 if position % 2 else 0.15  # two camps, every round
                rating = round(_clamp(1 + 4 * level, 1, 5))
                mood = "low" if rating <= 2 else "mid" if rating == 3 else "high"
                comment = rng.choice(COMMENTS[mood]) if rng.random() < 0.4 else ""
                ratings.append(RatingIn(csf_key=csf_key, rating=rating, comment=comment))
            response = response_service.start_response(session, round_, participant)
            response_service.save_draft(
                session,
                response,
                ResponseDraft(answers=answers, ratings=ratings),
                scorecard=scorecard,
                actor=ACTOR,
                locale=MACHINE,
            )
            response_service.submit(session, response, client_id=None, actor=ACTOR)
        for kpi in scorecard.kpis():
            if kpi.level != "cluster" or kpi.baseline is None or kpi.target is None:
                continue
            progress = _clamp(health - 0.2 + rng.gauss(0, 0.1), 0, 1.1)
            value = kpi.baseline + (kpi.target - kpi.baseline) * progress
            if kpi.type in ("count", "yes_no") or kpi.per_member:
                value = max(0, round(value))
            if kpi.type == "percent":
                value = _clamp(value, 0, 100)
            round_service.set_kpi_value(
                session,
                round_,
                kpi.key,
                KpiValueSet(value=round(value, 1), note="Facilitator's figure from the cluster office records"),
                actor=ACTOR,
            )
        if not last:
            round_service.set_status(session, round_, RoundStatus.closed, actor=ACTOR)
    return cluster


def seed(session: Session) -> tuple[Programme, bool]:
    """Returns the demo programme and whether it was created now."""
    existing = session.exec(select(Programme).where(Programme.name == DEMO_PROGRAMME)).first()
    if existing is not None:
        return existing, False
    rng = random.Random(20051)
    programme = cluster_service.create_programme(
        session,
        ProgrammeCreate(
            name=DEMO_PROGRAMME,
            agency="Demo Development Agency",
            description="Eight cluster initiatives evaluated with balanced scorecards over three rounds.",
        ),
    )
    for demo in CLUSTERS:
        _seed_cluster(session, programme, demo, rng)
    return programme, True


DEMO_PASSWORD = "demo-password-2026"
DEMO_DOMAIN = "demo.clusterscore.org"


def seed_people(session: Session, programme: Programme) -> list[tuple[str, str]]:
    """One login per role (idempotent): who can see what is the first thing a visitor wants to try."""
    clusters = cluster_service.list_clusters(session, programme_id=programme.id)
    people: list[tuple[str, str, bool, list[tuple[str, Programme | Cluster]]]] = [
        ("admin", "Demo Administrator", True, []),
        ("officer", "Programme Officer", False, [("agency", programme)]),
        ("facilitator", "Cluster Facilitator", False, [("facilitator", clusters[0]), ("facilitator", clusters[1])]),
        ("observer", "Funder (observer)", False, [("observer", clusters[0])]),
    ]
    logins = []
    for local, name, is_admin, grants in people:
        email = f"{local}@{DEMO_DOMAIN}"
        user = auth_service.user_by_email(session, email) or auth_service.create_user(
            session, email=email, name=name, password=DEMO_PASSWORD, is_admin=is_admin
        )
        for role, scope in grants:
            auth_service.grant_on(session, user, role, scope, actor=ACTOR)
        scope_names = ", ".join(getattr(scope, "name", "") for _, scope in grants)
        logins.append((email, "administrator" if is_admin else f"{grants[0][0]}: {scope_names}"))
    return logins


@dataclass(frozen=True)
class MemberLink:
    cluster: str
    organisation: str
    url: str
    answered: bool  # submitted in the cluster's open round


def member_links(session: Session, programme: Programme, *, base_url: str, per_cluster: int = 2) -> list[MemberLink]:
    """Fresh personal links (tokens are stored hashed, so reissued) for a few members of each demo cluster who
    have not answered the open round yet, so a newcomer sees a fresh form, then for one who has; those first."""
    links = []
    for cluster in cluster_service.list_clusters(session, programme_id=programme.id):
        open_round = next(r for r in round_service.list_rounds(session, cluster) if r.status == RoundStatus.open)
        submitted = {r.participant_id for r in response_service.list_for_round(session, open_round) if r.submitted_at}
        participants = cluster_service.list_participants(session, cluster)
        waiting = [p for p in participants if p.id not in submitted][:per_cluster]
        answered = [p for p in participants if p.id in submitted][:1]
        for participant in waiting + answered:
            assert participant.id is not None
            token = auth_service.issue_member_link(session, participant.id)
            url = f"{base_url}/m/{token}"
            links.append(MemberLink(cluster.name, participant.organisation, url, participant.id in submitted))
    return sorted(links, key=lambda link: link.answered)  # stable: clusters keep their order within each group
