"""The per-process memo behind shared scorecards and round scores: bounded, least recently used out first."""

from app.memo import Memo


def test_the_least_recently_used_entry_goes_first() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # "a" is now the most recently used
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (1, None, 3)


def test_clear_forgets_everything() -> None:
    memo: Memo[str, int] = Memo(4)
    memo.put("a", 1)
    memo.clear()
    assert memo.get("a") is None
