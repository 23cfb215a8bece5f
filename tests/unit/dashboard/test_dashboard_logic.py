"""The dashboard's computations, with numbers worked out by hand."""

from datetime import date

import pytest

from app.dashboard import logic
from app.scorecards.schema import TemplateSpec


def test_etag_is_stable_and_changes_with_any_part() -> None:
    tag = logic.live_etag("session-v1", 7, "open", "11", 40, 123, 12)
    assert tag == logic.live_etag("session-v1", 7, "open", "11", 40, 123, 12)
    assert tag.startswith('"') and tag.endswith('"')
    assert tag != logic.live_etag("session-v1", 7, "open", "11", 41, 123, 12)  # one more audited change
    assert tag != logic.live_etag("session-v1", 7, "closed", "11", 40, 123, 12)
    assert tag != logic.live_etag("session-v1", 7, "open", "01", 40, 123, 12)  # who looks: comments or not


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abd"', False),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert logic.etag_matches(header, '"abc"') is matches


def test_response_rate() -> None:
    assert logic.response_rate(3, 12) == 25.0
    assert logic.response_rate(0, 0) is None
    # Participants deactivated after submitting cannot push the rate over 100.
    assert logic.response_rate(5, 4) == 100.0


def test_distribution_bars_in_scale_order_with_shares() -> None:
    bars = logic.distribution_bars({3: 1, 1: 2, 2: 0, 4: 0, 5: 1})
    assert [(b.point, b.count, b.share) for b in bars] == [
        (1, 2, 50.0),
        (2, 0, 0.0),
        (3, 1, 25.0),
        (4, 0, 0.0),
        (5, 1, 25.0),
    ]
    assert all(b.share == 0.0 for b in logic.distribution_bars({1: 0, 2: 0}))


def _topic(key: str, disagreement: float | None, contested: bool = False) -> logic.Topic:
    return logic.Topic(key, key, "P", None, None, 0, None, disagreement, contested, [])


def test_discussion_order_most_disagreement_first_unrated_last_ties_in_scorecard_order() -> None:
    topics = [_topic("a", 0.2), _topic("b", None), _topic("c", 0.7, True), _topic("d", 0.2), _topic("e", 0.0)]
    assert [t.key for t in logic.discussion_order(topics)] == ["c", "a", "d", "e", "b"]


def test_change_against_the_latest_earlier_round_with_a_score() -> None:
    points = [logic.TrendPoint("r1", 40.0), logic.TrendPoint("r2", None), logic.TrendPoint("r3", 55.0)]
    assert logic.change(points) == 15.0
    assert logic.change(points[:1]) is None
    assert logic.change([logic.TrendPoint("r1", 40.0), logic.TrendPoint("r2", None)]) is None
    assert logic.trend_word(15.0) == "up"
    assert logic.trend_word(-3.0) == "down"
    assert logic.trend_word(1.5) == "steady"
    assert logic.trend_word(None) == "new"


@pytest.mark.parametrize(
    ("value", "baseline", "target", "direction", "position", "gap"),
    [
        (None, 0.0, 10.0, "increase", "no_data", None),
        (5.0, 0.0, None, "increase", "no_target", None),
        (6.0, 2.0, 10.0, "increase", "on_the_way", 4.0),
        (12.0, 2.0, 10.0, "increase", "target_reached", -2.0),
        (1.0, 2.0, 10.0, "increase", "below_baseline", 9.0),
        # Fewer days to deliver is better: 30 -> target 20, now 25 means 5 days still to cut.
        (25.0, 30.0, 20.0, "decrease", "on_the_way", 5.0),
        (35.0, 30.0, 20.0, "decrease", "below_baseline", 15.0),
        (20.0, 30.0, 20.0, "decrease", "target_reached", 0.0),
    ],
)
def test_kpi_standing(
    value: float | None, baseline: float, target: float | None, direction: str, position: str, gap: float | None
) -> None:
    standing = logic.kpi_standing(value, baseline, target, direction)
    assert standing.position == position
    assert standing.gap == gap


def _action(id_: int, round_id: int, status: str, due: date | None) -> logic.ActionView:
    return logic.ActionView(id_, round_id, None, f"action {id_}", "", due, status)


def test_unfinished_earlier_actions_come_first_oldest_due_date_first() -> None:
    actions = [
        _action(1, 1, "open", date(2026, 3, 1)),
        _action(2, 1, "done", date(2026, 1, 1)),
        _action(3, 2, "in_progress", None),
        _action(4, 2, "open", date(2026, 2, 1)),
        _action(5, 3, "open", date(2026, 1, 1)),  # agreed in the current round
        _action(6, 2, "dropped", None),
    ]
    carried, current = logic.split_actions(actions, 3, {1, 2})
    assert [a.id for a in carried] == [4, 1, 3]
    assert [a.id for a in current] == [5]
    assert logic.is_overdue(actions[0], date(2026, 3, 2))
    assert not logic.is_overdue(actions[0], date(2026, 3, 1))
    assert not logic.is_overdue(actions[1], date(2027, 1, 1))  # done is never overdue


def test_kpi_key_for_proposals() -> None:
    assert logic.kpi_key_for("Joint purchases / year", set()) == "own-joint-purchases-year"
    assert logic.kpi_key_for("Exportações conjuntas", set()) == "own-exportacoes-conjuntas"
    assert logic.kpi_key_for("การซื้อร่วมกัน", set()) == "own-kpi"
    taken = {"own-kpi", "own-kpi-2"}
    assert logic.kpi_key_for("การซื้อร่วมกัน", taken) == "own-kpi-3"
    assert len(logic.kpi_key_for("x" * 300, set())) <= 64


def _spec(**changes: object) -> TemplateSpec:
    spec = {
        "key": "t",
        "version": "1",
        "title": "T",
        "perspectives": [
            {
                "key": "fin",
                "title": "Financial",
                "csfs": [
                    {
                        "key": "loans",
                        "title": "Access to loans",
                        "kpis": [{"key": "loans-granted", "title": "Loans granted", "type": "count"}],
                    },
                    {"key": "costs", "title": "Cost control", "kpis": []},
                ],
            },
            {"key": "cus", "title": "Customers", "csfs": [{"key": "export", "title": "Exports", "kpis": []}]},
        ],
    }
    spec.update(changes)
    return TemplateSpec.model_validate(spec)


def test_template_diff_names_added_removed_reworded_and_moved_keys() -> None:
    old = _spec()
    new = _spec(
        version="2",
        perspectives=[
            {
                "key": "fin",
                "title": "Financial",
                "csfs": [
                    {"key": "loans", "title": "Access to finance", "kpis": []},
                    {
                        "key": "costs",
                        "title": "Cost control",
                        "kpis": [{"key": "loans-granted", "title": "Loans granted", "type": "count"}],
                    },
                ],
            },
            {"key": "cus", "title": "Customers", "csfs": [{"key": "fairs", "title": "Trade fairs", "kpis": []}]},
        ],
    )
    changes = {(c.kind, c.key, c.change): (c.before, c.after) for c in logic.template_diff(old, new)}
    assert changes == {
        ("csf", "export", "removed"): ("Exports", None),
        ("csf", "fairs", "added"): (None, "Trade fairs"),
        ("csf", "loans", "reworded"): ("Access to loans", "Access to finance"),
        ("kpi", "loans-granted", "moved"): ("loans", "costs"),
    }
    assert logic.template_diff(old, old) == []
    assert logic.orphaned_custom_kpis({"own-a": "export", "own-b": "loans"}, new) == ["own-a"]


def test_template_diff_names_a_unit_given_in_another_language() -> None:
    def with_unit(unit: object) -> TemplateSpec:
        kpi = {"key": "loans-granted", "title": "Loans granted", "type": "count", "unit": unit}
        csfs = [{"key": "loans", "title": "Access to loans", "kpis": [kpi]}]
        return _spec(languages=["en", "th"], perspectives=[{"key": "fin", "title": "Financial", "csfs": csfs}])

    old, new = with_unit("loans"), with_unit({"en": "loans", "th": "สินเชื่อ"})
    assert logic.template_diff(old, new, lang="en") == []
    [change] = logic.template_diff(old, new, lang="th")
    assert (change.kind, change.key, change.change, change.before, change.after) == (
        "kpi",
        "loans-granted",
        "reworded",
        "loans",
        "สินเชื่อ",
    )
