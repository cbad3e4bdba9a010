"""Contexts (templates) of the task: the official GSM-Infinite name lists plus one-word compact names.

The lists are copied from GSM-Infinite's `simple_names_three.py` as vendored by the authors' repository
(`gsm_infinite/gsm-infinite/data/realistic/simple_names_three.py`). A structure graph picks ONE sub-category
per layer and samples names from it without replacement, so a problem never mixes e.g. wild places with human places.

`compact` names are single words (contracts §1 "Surfaces"): every context keeps its own vocabulary, so
transfer between contexts stays a real question at CPU scale too.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTEXTS = {"zoo": "crazy_zootopia", "teachers": "teachers_in_school", "festival": "movie_festival_awards"}
TEMPLATE_TO_CONTEXT = {v: k for k, v in CONTEXTS.items()}


@dataclass(frozen=True)
class Context:
    key: str  # zoo | teachers | festival
    template: str  # official template name
    total_category: str  # layer-1 category: the abstract "total" parameter is "{total_category} in {place}"
    place_groups: tuple[tuple[str, ...], ...]  # layer-0 sub-categories
    item_groups: tuple[tuple[str, ...], ...]  # layer-1 sub-categories
    short: dict[str, str]  # official place/item name -> one-word compact name

    def instance_name(self, item: str, place: str, compact: bool = False) -> str:
        return f"{self.short[item]} {self.short[place]}" if compact else f"{item} in {place}"

    def total_name(self, place: str, compact: bool = False) -> str:
        return f"total {self.short[place]}" if compact else f"{self.total_category} in {place}"


_ZOO = Context(
    key="zoo",
    template="crazy_zootopia",
    total_category="total number of adult animals",
    place_groups=(
        ("Beverly Forest", "Cedar Valley", "Oakridge Riverside", "Pine Ridge", "Maple Creek"),  # Wild place
        ("South Zoo", "Jefferson Circus", "Mayer Aquarium", "Bundle Ranch", "Hamilton Farm"),  # Human place
    ),
    item_groups=(
        ("adult bear", "adult wolf", "adult deer", "adult fox", "adult racoon"),  # Mammal
        ("adult eagle", "adult parrot", "adult owl", "adult blue jay", "adult crow"),  # Bird
    ),
    short={
        "Beverly Forest": "BeverlyForest", "Cedar Valley": "CedarValley", "Oakridge Riverside": "OakridgeRiverside",
        "Pine Ridge": "PineRidge", "Maple Creek": "MapleCreek", "South Zoo": "SouthZoo",
        "Jefferson Circus": "JeffersonCircus", "Mayer Aquarium": "MayerAquarium", "Bundle Ranch": "BundleRanch",
        "Hamilton Farm": "HamiltonFarm",
        "adult bear": "bear", "adult wolf": "wolf", "adult deer": "deer", "adult fox": "fox",
        "adult racoon": "racoon", "adult eagle": "eagle", "adult parrot": "parrot", "adult owl": "owl",
        "adult blue jay": "bluejay", "adult crow": "crow",
    },
)

_TEACHERS = Context(
    key="teachers",
    template="teachers_in_school",
    total_category="total number of schools",
    place_groups=(
        ("Evervale City", "Hawkesbury", "Glenfield City", "Westhaven City", "Brightford"),  # without water
        ("Riverton City", "Clearwater Bay", "Shoreline City", "Oakbridge City", "Ruby Bay"),  # with water
    ),
    item_groups=(
        ("elementary school", "private middle school", "public highschool", "regional medical school",
         "culinarian school"),
    ),
    short={
        "Evervale City": "Evervale", "Hawkesbury": "Hawkesbury", "Glenfield City": "Glenfield",
        "Westhaven City": "Westhaven", "Brightford": "Brightford", "Riverton City": "Riverton",
        "Clearwater Bay": "Clearwater", "Shoreline City": "Shoreline", "Oakbridge City": "Oakbridge",
        "Ruby Bay": "RubyBay",
        "elementary school": "elementary", "private middle school": "privatemiddle",
        "public highschool": "publichigh", "regional medical school": "medical",
        "culinarian school": "culinarian",
    },
)

_FESTIVAL = Context(
    key="festival",
    template="movie_festival_awards",
    total_category="total number of movies",
    place_groups=(
        ("Taylor Movie Festival", "Verdi Movie Festival", "West Sahara Movie Festival", "Northwood Movie Festival",
         "Golden Banana Movie Festival"),  # Random
        ("Festival Lumière de Valmont", "Rêves de Belleville", "Cinéma de Montreval", "Festival de Clairmont",
         "Festival de Saint-Rivage"),  # French
    ),
    item_groups=(
        ("upbeat metropolis comedy", "solemn period drama", "futuristic sci-fi movie", "calm road movie",
         "intense detective thriller"),
    ),
    short={
        "Taylor Movie Festival": "Taylor", "Verdi Movie Festival": "Verdi", "West Sahara Movie Festival": "WestSahara",
        "Northwood Movie Festival": "Northwood", "Golden Banana Movie Festival": "GoldenBanana",
        "Festival Lumière de Valmont": "Lumiere", "Rêves de Belleville": "Belleville",
        "Cinéma de Montreval": "Montreval", "Festival de Clairmont": "Clairmont",
        "Festival de Saint-Rivage": "SaintRivage",
        "upbeat metropolis comedy": "comedy", "solemn period drama": "drama", "futuristic sci-fi movie": "scifi",
        "calm road movie": "roadmovie", "intense detective thriller": "thriller",
    },
)

CONTEXT_DEFS: dict[str, Context] = {c.key: c for c in (_ZOO, _TEACHERS, _FESTIVAL)}


def get_context(key_or_template: str) -> Context:
    """Look a context up by short key (`zoo`) or official template name (`crazy_zootopia`)."""
    key = TEMPLATE_TO_CONTEXT.get(key_or_template, key_or_template)
    if key not in CONTEXT_DEFS:
        raise ValueError(f"unknown context {key_or_template!r} (expected one of {', '.join(CONTEXTS)})")
    return CONTEXT_DEFS[key]
