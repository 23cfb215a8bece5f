"""Words the interface stores as codes (enum values, dimensions, kinds of measure) in the reader's language.

A code is never shown as it is stored (`hub_and_spoke`, `in_progress`, `csf:`): templates write
`{{ value | term("typology") }}`. Values outside a vocabulary (a sector or region someone typed) are
shown as typed, since they are already in someone's words.
"""

from app.i18n.translation import Msg, _l, pgettext

VOCABULARIES: dict[str, dict[str, Msg]] = {
    # The peer-group dimensions of a cluster (benchmark filters and the "same ..." choices).
    "dimension": {
        "programme": _l("Programme"),
        "sector": _l("Sector"),
        "country": _l("Country"),
        "region": _l("Region"),
        "typology": _l("Typology"),
        "stage": _l("Stage"),
    },
    "typology": {
        "italianate": _l("Italianate (many small firms)"),
        "satellite": _l("Satellite (branches of outside firms)"),
        "hub_and_spoke": _l("Hub and spoke (around large firms)"),
        "survival": _l("Survival cluster"),
        "fordist": _l("Fordist mass production"),
        "transnational": _l("Transnational (global corporations)"),
        "working": _l("Working cluster"),
        "latent": _l("Latent cluster"),
        "potential": _l("Potential cluster"),
        "policy_driven": _l("Policy-driven cluster"),
        "wishful_thinking": _l("Wishful-thinking cluster"),
    },
    "stage": {
        "emerging": _l("emerging"),
        "growing": _l("growing"),
        "mature": _l("mature"),
        "declining": _l("declining"),
    },
    # Rounds, members' submissions and action items.
    "status": {
        "draft": _l("draft"),
        "open": _l("open"),
        "closed": _l("closed"),
        "submitted": _l("submitted"),
        "none": _l("not started"),
        "in_progress": _l("in progress"),
        "done": _l("done"),
        "dropped": _l("dropped"),
    },
    "organisation_type": {
        "firm": _l("firm"),
        "association": _l("association"),
        "training": _l("training institute"),
        "research": _l("research institute"),
        "government": _l("government"),
        "finance": _l("finance"),
        "other": _l("other"),
    },
}


def term(value: object, vocabulary: str) -> str:
    """`value` of `vocabulary` in the reader's language; a value outside it as it is."""
    if value is None:
        return ""
    message = VOCABULARIES.get(vocabulary, {}).get(str(value))
    return message.localized() if message is not None else str(value)


def measure_name(kind: str, title: str) -> str:
    """A measure in a list of measures: "Success factor: Access to finance", one sentence to translate."""
    if kind == "perspective":
        return pgettext("measure", "Perspective: %(title)s", title=title)
    if kind == "csf":
        return pgettext("measure", "Success factor: %(title)s", title=title)
    if kind == "kpi":
        return pgettext("measure", "KPI: %(title)s", title=title)
    return title  # the overall score is named by its title alone
