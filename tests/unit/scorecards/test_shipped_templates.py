"""The templates in scorecards/ are what a new cluster starts from: they must parse and say what the sources say."""

import re
from pathlib import Path

import pytest

from app.scorecards.parsing import load_template_file, validate_paths
from app.scorecards.schema import TemplateSpec, localize

SCORECARDS = Path(__file__).resolve().parents[3] / "scorecards"
SHIPPED = sorted(SCORECARDS.glob("*.yaml"))
THAI_SCRIPT = re.compile(r"[\u0e00-\u0e7f]")

# Table 5 and the KPI list after it (Meyer-Stamer & Harmes-Liedtke 2005, section 7.2), word for word.
THAI_KPIS = {
    "Ease of access to loans": [
        "Number of companies producing business and marketing plans for investment",
        "Reduction in number of Non-Performing Loans (NPL)",
        "Increase in average timescale for loan repayment",
    ],
    "Financial market sophistication": [
        "Number of sector-specific financial products available",
        "Increase in the number of financial organisations making products available",
    ],
    "Cost control": [
        "Number of buying consortia established",
        "Number of companies adopting lean manufacturing processes",
        "Number of companies adopting new technology",
    ],
    "Quality of goods and services": [
        "Percentage increase in level of customer satisfaction",
        "Percentage decrease in returns/complaints",
    ],
    "Accessibility": [
        "Number of companies marketing or trading online",
        "Number of international retail outlets stocking Thai goods",
        "Number of companies adopting multi-channel strategies",
    ],
    "Supply chain integration": [
        "Number of companies adopting Just-In-Time (JIT) delivery methodology",
        "Percentage reduction in waste of raw materials",
    ],
    "Availability of skills and labour": [
        "Percentage reduction in staff turnover rate",
        "Number of participants in core skills programmes",
    ],
    "Visionary leadership": [
        "Number of companies using IT",
        "Number of members recruited into the cluster",
        "Rate of business growth",
    ],
    "Increased innovation levels within companies": [
        "Number of new products/services launched or processes implemented",
        "Number of companies certified to GMP/HACCP",
    ],
    "Detailed market knowledge": [
        "Number of companies conducting competitor analyses and marketing plans",
        "Increase in number of channels to markets",
    ],
    "Communication and knowledge sharing": [
        "Existence of an internal (cluster) communications plan",
        "Number of companies using the internet/IT for research, communications and reporting",
    ],
}

# Figure 6 (Scottish Enterprise, after MacCallum 2001).
SCOTTISH_CSFS = {
    "Economic / Financial": [
        "Levels of overall investment",
        "Company performance",
        "Market performance \u2013 global, national",  # the paper: "global, UK"; any country uses it
        "Employment levels / no. companies",
    ],
    "Knowledge": ["R&D and innovation", "International awareness/recognition", "Integration of academia & business"],
    "Skills": [
        "Appropriate skill levels & structure",
        "Improved value-add per employee",
        "Continuous learning & development",
    ],
    "Cluster Process": [
        "Local connections & networks",
        "Appropriate infrastructure",
        "International connectivity",
        "Industry leadership",
    ],
}


def _load(name: str) -> TemplateSpec:
    spec, _ = load_template_file(SCORECARDS / name)
    return spec


def _en(spec: TemplateSpec, text: str | dict[str, str]) -> str:
    return localize(text, "en", spec.fallback_language)


def test_all_three_templates_are_shipped() -> None:
    assert [path.name for path in SHIPPED] == [
        "dti-cluster-monitoring.yaml",
        "scottish-enterprise-cluster.yaml",
        "thai-food-cluster.yaml",
    ]


def test_shipped_templates_validate_without_problems_or_warnings() -> None:
    assert validate_paths([SCORECARDS]) == ([], [])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_template_identity_and_citation(path: Path) -> None:
    spec, digest = load_template_file(path)
    assert spec.key == path.stem
    assert spec.version == ("1.2" if spec.key == "thai-food-cluster" else "1.3")  # 1.3: fr, ar, neutral currency
    assert spec.source
    header = path.read_text(encoding="utf-8").splitlines()[:8]
    assert any("Source:" in line for line in header), "the file's header comment cites its source"
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_template_survives_a_json_round_trip(path: Path) -> None:
    """The database stores model_dump(mode="json") and validates it again on every read."""
    spec, _ = load_template_file(path)
    assert TemplateSpec.model_validate(spec.model_dump(mode="json")) == spec


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_questions_about_your_company_are_asked_of_firms_only(path: Path) -> None:
    """Associations and institutes answered "Has your company ...?" and their yes was counted per firm."""
    spec, _ = load_template_file(path)
    for kpi in spec.member_kpis():
        question = str(kpi.question if isinstance(kpi.question, str) else (kpi.question or {}).get("en"))
        if "your company" in question or kpi.per_member:
            assert kpi.asked_of == "firms", kpi.key
    # Perceptions of the cluster are everyone's.
    assert all(kpi.asked_of is None for kpi in spec.member_kpis() if kpi.type == "rating")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_template_gives_members_questions_and_every_csf_a_rating_question(path: Path) -> None:
    spec, _ = load_template_file(path)
    assert len(spec.member_kpis()) >= 3
    assert all(kpi.question for kpi in spec.member_kpis())
    assert all(csf.rating_question for _, csf in spec.iter_csfs())
    assert spec.rating_scale.min == 1 and spec.rating_scale.max == 5
    assert sorted(spec.rating_scale.labels) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_label_is_translated_into_every_declared_language(path: Path) -> None:
    spec, _ = load_template_file(path)
    assert spec.missing_translations() == []
    for _, text in spec.iter_labels():
        assert isinstance(text, dict) and set(text) == set(spec.languages)


def test_thai_template_has_the_papers_perspectives_csfs_and_26_kpis() -> None:
    spec = _load("thai-food-cluster.yaml")
    assert spec.languages == ["en", "th"]
    assert [_en(spec, p.title) for p in spec.perspectives] == [
        "Financial",
        "Customer",
        "Internal Business Process",
        "Innovation & Growth",
    ]
    assert sum(1 for _ in spec.iter_csfs()) == 11
    assert sum(1 for _ in spec.iter_kpis()) == 26
    found = {_en(spec, csf.title): [_en(spec, kpi.title) for kpi in csf.kpis] for _, csf in spec.iter_csfs()}
    assert found == THAI_KPIS
    assert not any(kpi.illustrative for _, _, kpi in spec.iter_kpis())


def test_every_thai_label_is_written_in_thai() -> None:
    spec = _load("thai-food-cluster.yaml")
    for loc, text in spec.iter_labels():
        assert isinstance(text, dict)
        assert THAI_SCRIPT.search(text["th"]), loc


def test_thai_kpis_are_collected_where_the_knowledge_is() -> None:
    spec = _load("thai-food-cluster.yaml")
    lean = spec.kpi("lean-manufacturing")
    assert lean is not None
    assert (lean.level, lean.type, lean.aggregate, lean.per_member) == ("member", "yes_no", "count_yes", True)
    for key in ("sector-financial-products", "international-retail-outlets", "non-performing-loans"):
        kpi = spec.kpi(key)
        assert kpi is not None and kpi.level == "cluster" and kpi.aggregate is None
    npl = spec.kpi("non-performing-loans")
    turnover = spec.kpi("staff-turnover")
    assert npl is not None and npl.direction == "decrease"
    assert turnover is not None and (turnover.level, turnover.type, turnover.direction) == (
        "member",
        "percent",
        "decrease",
    )
    # Every "Number of companies ..." KPI is a yes/no question to each firm, comparable per member.
    for _, _, kpi in spec.iter_kpis():
        if _en(spec, kpi.title).startswith("Number of companies"):
            assert (kpi.level, kpi.aggregate, kpi.per_member) == ("member", "count_yes", True), kpi.key


def test_scottish_template_has_figure_6_and_one_to_three_illustrative_kpis_per_csf() -> None:
    spec = _load("scottish-enterprise-cluster.yaml")
    assert spec.languages == ["en", "es", "fr", "ar"]
    found = {_en(spec, p.title): [_en(spec, csf.title) for csf in p.csfs] for p in spec.perspectives}
    assert found == SCOTTISH_CSFS
    for _, csf in spec.iter_csfs():
        assert 1 <= len(csf.kpis) <= 3, csf.key
    assert all(kpi.illustrative for _, _, kpi in spec.iter_kpis())


def test_dti_template_has_three_drivers_leading_to_outcomes() -> None:
    spec = _load("dti-cluster-monitoring.yaml")
    assert spec.languages == ["en", "es", "pt", "fr", "ar"]  # pt: the demo's Brazilian footwear cluster uses it
    assert [_en(spec, p.title) for p in spec.perspectives] == [
        "Innovation and R&D",
        "Human resources",
        "Networks and partnerships",
        "Economic outcomes",
    ]
    assert all(kpi.illustrative for _, _, kpi in spec.iter_kpis())
    for perspective in spec.perspectives:
        assert all(csf.kpis for csf in perspective.csfs), perspective.key
