"""The scorecard template format: perspectives -> critical success factors (CSFs) -> KPIs.

These models are the single definition of what a template YAML may say; the parser, the
JSON schema for editors and the database loader all derive from them, so a rule added here
is enforced everywhere at once.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, NamedTuple, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.scorecards import values

Loc = tuple[str | int, ...]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_LANGUAGE_RE = re.compile(LANGUAGE_PATTERN)

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
LanguageCode = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN, max_length=35)]
# Strict so that YAML's `yes`/`no` or a quoted "5" is an error instead of silently becoming 1.0 or 5.0.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Weight = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]

KpiLevel = Literal["member", "cluster"]
KpiType = Literal["yes_no", "count", "number", "percent", "rating", "text"]
Direction = Literal["increase", "decrease"]
Aggregate = Literal["count_yes", "share_yes", "sum", "mean", "median"]
AskedOf = Literal["all", "firms"]

YES_NO_AGGREGATES: frozenset[str] = frozenset({"count_yes", "share_yes"})
DEFAULT_AGGREGATE: dict[str, Aggregate] = {
    "yes_no": "count_yes",
    "count": "sum",
    "number": "sum",
    "percent": "mean",
    "rating": "mean",
}

# Used when a CSF has no rating_question of its own; other languages fall back to English.
_GENERATED_RATING_QUESTION = {
    "en": "How strongly is '{title}' present in our cluster?",
    "es": "¿En qué medida está presente «{title}» en nuestro clúster?",
    "th": "คลัสเตอร์ของเรามี “{title}” มากน้อยเพียงใด",
    "pt": "Em que medida “{title}” está presente no nosso cluster?",
    "fr": "Dans quelle mesure « {title} » est-il présent dans notre cluster ?",
    "ar": "إلى أي مدى يتوفر «{title}» في تجمعنا؟",
}
_LOCALIZED_FIELDS = ("title", "description", "question", "rating_question")


def _check_localized(value: object) -> object:
    """Runs before the str/dict union so authors get one plain message instead of one per union member."""
    if isinstance(value, str):
        if not value.strip():
            raise PydanticCustomError("empty_text", "must not be empty")
        return value
    if isinstance(value, dict):
        if not value:
            raise PydanticCustomError("localized_text", "needs text in at least one language, e.g. {en: ...}")
        for lang, label in value.items():
            if not isinstance(lang, str) or not _LANGUAGE_RE.match(lang):
                raise PydanticCustomError(
                    "language_code", f"{lang!r} is not a language code such as 'en', 'th' or 'pt-BR'"
                )
            if not isinstance(label, str) or not label.strip():
                raise PydanticCustomError("localized_text", f"the '{lang}' text must not be empty")
        return value
    raise PydanticCustomError(
        "localized_text",
        "expected text, or a mapping of language code to text such as {en: ..., th: ...}; "
        f"got {describe_value(value)}",
    )


LocalizedText = Annotated[str | dict[str, str], BeforeValidator(_check_localized)]
UNIT_MAX_LENGTH = 40


def _check_unit(value: str | dict[str, str] | None) -> str | dict[str, str] | None:
    texts = [value] if isinstance(value, str) else list(value.values()) if value else []
    if any(len(text) > UNIT_MAX_LENGTH for text in texts):
        raise PydanticCustomError("unit_length", f"a unit has at most {UNIT_MAX_LENGTH} characters in each language")
    return value


@overload
def localize(text: LocalizedText, lang: str, fallback: str) -> str: ...
@overload
def localize(text: None, lang: str, fallback: str) -> None: ...
def localize(text: LocalizedText | None, lang: str, fallback: str) -> str | None:
    """A missing translation shows the fallback text rather than nothing, so a half-translated
    template is still usable."""
    if text is None or isinstance(text, str):
        return text
    for candidate in (lang, fallback):
        if candidate in text:
            return text[candidate]
    return next(iter(text.values()), None)


def is_fallback(text: LocalizedText | None, lang: str, fallback: str) -> bool:
    """Whether localize(text, lang, fallback) shows another language than `lang` (a plain string is
    fallback-language text), so the page can mark it as not yet translated."""
    if text is None or lang == fallback:
        return False
    return isinstance(text, str) or lang not in text


def format_loc(loc: Loc) -> str:
    """Render a location as authors read it: perspectives[2].csfs[0].title."""
    out = ""
    for segment in loc:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


def describe_value(value: object) -> str:
    """How an error message names what the author wrote instead."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class RatingScale(_Spec):
    min: Annotated[int, Strict()] = 1
    max: Annotated[int, Strict()] = 5
    labels: dict[int, LocalizedText] = Field(default_factory=dict)
    """Words for some or all points, e.g. {1: Not at all, 5: Fully}."""

    @field_validator("max")
    @classmethod
    def _check_range(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min")
        if low is None:
            return value
        if value <= low:
            raise PydanticCustomError("rating_range", f"max ({value}) must be greater than min ({low})")
        # More points than this cannot be told apart on a phone screen or in a workshop.
        if value - low + 1 > 11:
            raise PydanticCustomError(
                "rating_range", f"a rating scale has at most 11 points; {low}..{value} has {value - low + 1}"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: dict[int, LocalizedText], info: ValidationInfo) -> dict[int, LocalizedText]:
        low, high = info.data.get("min"), info.data.get("max")
        if low is None or high is None:
            return value
        outside = sorted(point for point in value if not low <= point <= high)
        if outside:
            raise PydanticCustomError(
                "rating_label", f"labels for points outside the scale {low}..{high}: {', '.join(map(str, outside))}"
            )
        return value


class Thresholds(_Spec):
    """Traffic-light cut-offs on the 0-100 score."""

    green: Annotated[Number, Field(ge=0, le=100)] = 70
    amber: Annotated[Number, Field(ge=0, le=100)] = 40

    @field_validator("amber")
    @classmethod
    def _amber_below_green(cls, value: float, info: ValidationInfo) -> float:
        green = info.data.get("green")
        if green is not None and value > green:
            raise PydanticCustomError("thresholds", f"amber ({value:g}) must not be above green ({green:g})")
        return value


class Weights(_Spec):
    """How much KPI evidence and member perception each count inside a CSF score."""

    kpi: Annotated[Number, Field(ge=0)] = 50
    perception: Annotated[Number, Field(ge=0)] = 50

    @model_validator(mode="after")
    def _not_both_zero(self) -> "Weights":
        if self.kpi == 0 and self.perception == 0:
            raise PydanticCustomError("weights", "kpi and perception weights cannot both be 0")
        return self


class KpiSpec(_Spec):
    key: Slug
    """Answers and values reference the KPI by this key, so it must stay stable across versions."""
    title: LocalizedText
    description: LocalizedText | None = None
    level: KpiLevel = "cluster"
    """member: every member firm answers `question`; cluster: the facilitator enters one value."""
    question: Annotated[LocalizedText | None, Field(validate_default=True)] = None
    type: KpiType = "number"
    unit: Annotated[LocalizedText | None, AfterValidator(_check_unit)] = None
    """Shown beside the answer field, in the member's language when given per language ({en: months, th: เดือน})."""
    direction: Direction = "increase"
    """Whether a higher value is better; "reduction" KPIs measure the level and use decrease."""
    aggregate: Annotated[Aggregate | None, Field(validate_default=True)] = None
    """How member answers combine into one cluster value; filled from `type` when omitted."""
    min: Number | None = None
    """Smallest answer (or facilitator's value) accepted, for count, number and percent KPIs; the type's own
    limit when omitted (0 for counts and percentages, -10^15 for numbers)."""
    max: Annotated[Number | None, Field(validate_default=True)] = None
    """Largest answer (or facilitator's value) accepted; the type's own limit when omitted (100 for
    percentages, 10^15 for counts and numbers)."""
    baseline: Number | None = None
    """In the KPI's unit; for share_yes a percentage (60 for 60 %), never a fraction."""
    target: Number | None = None
    per_member: bool = False
    """Divide by the number of participants asked (member firms, for `asked_of: firms`) so clusters of
    different size can be compared."""
    asked_of: AskedOf | None = None
    """Member-level KPIs: who is asked, `all` participants (the default; perceptions) or only `firms` ("Has
    your company ...?"); only their answers count."""
    weight: Weight = 1.0
    illustrative: bool = False
    """True where the KPI is our illustration rather than taken from the cited source."""

    @field_validator("question")
    @classmethod
    def _member_needs_question(cls, value: LocalizedText | None, info: ValidationInfo) -> LocalizedText | None:
        if value is None and info.data.get("level") == "member":
            raise PydanticCustomError(
                "question_required", "member-level KPIs need a 'question' (what each member firm is asked)"
            )
        return value

    @field_validator("aggregate")
    @classmethod
    def _resolve_aggregate(cls, value: Aggregate | None, info: ValidationInfo) -> Aggregate | None:
        level, kpi_type = info.data.get("level"), info.data.get("type")
        if level is None or kpi_type is None:
            return value  # level or type is invalid and already reported
        if level == "cluster":
            if value is not None:
                raise PydanticCustomError("aggregate", "'aggregate' is only allowed on member-level KPIs")
            return None
        if kpi_type == "text":
            if value is not None:
                raise PydanticCustomError("aggregate", "text answers are listed, never aggregated: remove 'aggregate'")
            return None
        if value is None:
            return DEFAULT_AGGREGATE[kpi_type]
        if kpi_type == "yes_no" and value not in YES_NO_AGGREGATES:
            raise PydanticCustomError(
                "aggregate", f"aggregate '{value}' does not apply to yes_no answers; use count_yes or share_yes"
            )
        if kpi_type != "yes_no" and value in YES_NO_AGGREGATES:
            raise PydanticCustomError(
                "aggregate", f"aggregate '{value}' needs a yes_no KPI; use sum, mean or median for type '{kpi_type}'"
            )
        return value

    @field_validator("max")
    @classmethod
    def _range_fits_the_type(cls, value: float | None, info: ValidationInfo) -> float | None:
        kpi_type, low = info.data.get("type"), info.data.get("min")
        if kpi_type is None or (low is None and value is None):
            return value
        if kpi_type not in values.AMOUNTS:
            raise PydanticCustomError("kpi_range", "min and max apply to count, number and percent KPIs only")
        widest = values.type_range(kpi_type)
        assert widest is not None
        for name, limit in (("min", low), ("max", value)):
            if limit is not None and not widest[0] <= limit <= widest[1]:
                allowed = f"{widest[0]:g}..{widest[1]:g}"
                raise PydanticCustomError(
                    "kpi_range", f"{name} {limit:g} is outside what a {kpi_type} KPI allows ({allowed})"
                )
        if low is not None and value is not None and low >= value:
            raise PydanticCustomError("kpi_range", f"max ({value:g}) must be greater than min ({low:g})")
        return value

    @field_validator("baseline", "target")
    @classmethod
    def _sensible_goal(cls, value: float | None, info: ValidationInfo) -> float | None:
        # The same rules as a facilitator's baseline and target (app.scorecards.values): a goal outside the
        # range of the round's value, a share in the fraction form or a target on the wrong side of the
        # baseline could never be scored.
        data = info.data
        if value is None or "type" not in data or "direction" not in data or "max" not in data:
            return value
        answers = values.answer_range(data["type"], data.get("min"), data["max"])
        problem = values.goal_problem(
            baseline=data.get("baseline") if info.field_name == "target" else value,
            target=value if info.field_name == "target" else None,
            direction=data["direction"],
            aggregate=data.get("aggregate"),
            values=values.goal_range(data.get("aggregate"), answers),
        )
        if problem is not None and problem[0] == info.field_name:
            raise PydanticCustomError("kpi_goal", str(problem[1]))
        return value

    @field_validator("asked_of")
    @classmethod
    def _asked_of_members(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("level") == "cluster":
            raise PydanticCustomError("asked_of", "'asked_of' is only allowed on member-level KPIs")
        return value

    @field_validator("per_member")
    @classmethod
    def _per_member_only_for_counts(cls, value: bool, info: ValidationInfo) -> bool:
        level, kpi_type, aggregate = info.data.get("level"), info.data.get("type"), info.data.get("aggregate")
        if not value or level is None or kpi_type is None:
            return value
        counts = kpi_type in ("count", "number") if level == "cluster" else aggregate in ("count_yes", "sum")
        if not counts:
            raise PydanticCustomError(
                "per_member",
                "per_member only makes sense for counts: cluster count/number KPIs, or member KPIs "
                "aggregated with count_yes or sum",
            )
        return value


class CsfSpec(_Spec):
    key: Slug
    """Member ratings and KPIs reference the CSF by this key, so it is unique in the whole template."""
    title: LocalizedText
    description: LocalizedText | None = None
    rating_question: LocalizedText | None = None
    """What members are asked when they rate how present this CSF is in their cluster."""
    weight: Weight = 1.0
    kpis: list[KpiSpec] = Field(default_factory=list)

    def question(self, lang: str, fallback: str) -> str:
        """Every CSF gets rated, so a template may leave the wording to us."""
        own = localize(self.rating_question, lang, fallback)
        if own is not None:
            return own
        wording = _GENERATED_RATING_QUESTION.get(lang, _GENERATED_RATING_QUESTION["en"])
        return wording.format(title=localize(self.title, lang, fallback))


class PerspectiveSpec(_Spec):
    key: Slug
    title: LocalizedText
    description: LocalizedText | None = None
    weight: Weight = 1.0
    csfs: Annotated[list[CsfSpec], Field(min_length=1)]


class DuplicateKey(NamedTuple):
    kind: str
    key: str
    loc: Loc
    first_loc: Loc

    @property
    def message(self) -> str:
        return f"duplicate {self.kind} key '{self.key}' (already used at {format_loc(self.first_loc[:-1])})"


def _field(obj: object, name: str) -> object:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None) if isinstance(obj, BaseModel) else None


def _items(value: object) -> Iterator[tuple[int, object]]:
    return enumerate(value) if isinstance(value, list) else iter(())


def find_duplicate_keys(perspectives: object) -> list[DuplicateKey]:
    """Accepts validated specs and raw parsed YAML alike, so the parser can report duplicates
    together with other errors instead of only once everything else is fixed."""
    seen: dict[str, dict[str, Loc]] = {}
    found: list[DuplicateKey] = []

    def visit(kind: str, item: object, loc: Loc) -> None:
        key = _field(item, "key")
        if not isinstance(key, str):
            return
        first = seen.setdefault(kind, {}).setdefault(key, loc)
        if first != loc:
            found.append(DuplicateKey(kind, key, loc, first))

    for p_index, perspective in _items(perspectives):
        p_loc: Loc = ("perspectives", p_index)
        visit("perspective", perspective, (*p_loc, "key"))
        for c_index, csf in _items(_field(perspective, "csfs")):
            c_loc = (*p_loc, "csfs", c_index)
            visit("CSF", csf, (*c_loc, "key"))
            for k_index, kpi in _items(_field(csf, "kpis")):
                visit("KPI", kpi, (*c_loc, "kpis", k_index, "key"))
    return found


class TemplateSpec(_Spec):
    key: Slug
    version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN, max_length=32)]
    """Quote it in YAML: an unquoted 1.10 is the number 1.1."""
    title: LocalizedText
    description: LocalizedText | None = None
    source: Annotated[str, StringConstraints(min_length=1)] | None = None
    """Citation of the framework the template follows."""
    languages: Annotated[list[LanguageCode], Field(min_length=1)] = Field(default_factory=lambda: ["en"])
    """Declared label languages; the first is the fallback when a translation is missing."""
    rating_scale: RatingScale = Field(default_factory=RatingScale)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    weights: Weights = Field(default_factory=Weights)
    perspectives: Annotated[list[PerspectiveSpec], Field(min_length=1)]

    @field_validator("version", mode="before")
    @classmethod
    def _version_from_number(cls, value: Any) -> Any:
        # `version: 1` is how people write it; a bool is almost certainly a mistake, so it stays an error.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, value: list[str]) -> list[str]:
        repeated = sorted({lang for lang in value if value.count(lang) > 1})
        if repeated:
            raise PydanticCustomError("languages", f"languages listed twice: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _unique_keys(self) -> "TemplateSpec":
        duplicates = find_duplicate_keys(self.perspectives)
        if duplicates:
            raise PydanticCustomError("duplicate_key", "; ".join(d.message for d in duplicates))
        return self

    @property
    def fallback_language(self) -> str:
        return self.languages[0]

    def iter_csfs(self) -> Iterator[tuple[PerspectiveSpec, CsfSpec]]:
        for perspective in self.perspectives:
            for csf in perspective.csfs:
                yield perspective, csf

    def iter_kpis(self) -> Iterator[tuple[PerspectiveSpec, CsfSpec, KpiSpec]]:
        for perspective, csf in self.iter_csfs():
            for kpi in csf.kpis:
                yield perspective, csf, kpi

    def csf(self, key: str) -> CsfSpec | None:
        """None rather than KeyError: the key usually comes from a submitted form."""
        return next((csf for _, csf in self.iter_csfs() if csf.key == key), None)

    def kpi(self, key: str) -> KpiSpec | None:
        return next((kpi for _, _, kpi in self.iter_kpis() if kpi.key == key), None)

    def member_kpis(self) -> list[KpiSpec]:
        return [kpi for _, _, kpi in self.iter_kpis() if kpi.level == "member"]

    def iter_labels(self) -> Iterator[tuple[Loc, LocalizedText]]:
        """Every text a person reads, with its location, for translation checks."""
        yield from _localized_fields(self, ())
        for point, label in sorted(self.rating_scale.labels.items()):
            yield ("rating_scale", "labels", point), label
        for p_index, perspective in enumerate(self.perspectives):
            p_loc: Loc = ("perspectives", p_index)
            yield from _localized_fields(perspective, p_loc)
            for c_index, csf in enumerate(perspective.csfs):
                c_loc = (*p_loc, "csfs", c_index)
                yield from _localized_fields(csf, c_loc)
                for k_index, kpi in enumerate(csf.kpis):
                    yield from _localized_fields(kpi, (*c_loc, "kpis", k_index))

    def translation_gaps(self) -> list[tuple[Loc, list[str]]]:
        """Plain strings count as fallback-language text, so a one-language template has no gaps."""
        gaps: list[tuple[Loc, list[str]]] = []
        for loc, text in self.iter_labels():
            present = set(text) if isinstance(text, dict) else {self.fallback_language}
            missing = [lang for lang in self.languages if lang not in present]
            if missing:
                gaps.append((loc, missing))
        return gaps

    def missing_translations(self) -> list[str]:
        """Warnings, not errors: a missing translation falls back instead of breaking anything."""
        return [
            f"{format_loc(loc)}: missing translation for {', '.join(missing)}"
            for loc, missing in self.translation_gaps()
        ]


def _localized_fields(spec: BaseModel, base: Loc) -> Iterator[tuple[Loc, LocalizedText]]:
    for name in _LOCALIZED_FIELDS:
        value = getattr(spec, name, None)
        if isinstance(value, str | dict):
            yield (*base, name), value
