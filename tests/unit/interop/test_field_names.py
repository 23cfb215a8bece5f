"""Form field names are valid XML names and map back to exactly one scorecard key."""

import re

from hypothesis import given
from hypothesis import strategies as st

from app.interop.logic import FieldMap

XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
keys = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")


@given(st.lists(st.tuples(st.sampled_from(["kpi", "rating", "comment"]), keys), unique=True, max_size=30))
def test_names_are_xml_names_and_reversible(entries: list[tuple[str, str]]) -> None:
    fields = FieldMap()
    names = [fields.add(kind, key) for kind, key in entries]  # type: ignore[arg-type]
    assert len(set(names)) == len(names)
    for name, entry in zip(names, entries, strict=True):
        assert XML_NAME.match(name) and "-" not in name
        assert fields.lookup(name) == entry


def test_keys_differing_only_by_dash_and_underscore_get_distinct_names() -> None:
    fields = FieldMap()
    assert fields.add("kpi", "new-products") == "k_new_products"
    assert fields.add("kpi", "new_products") == "k_new_products_2"
    assert fields.lookup("k_new_products_2") == ("kpi", "new_products")
