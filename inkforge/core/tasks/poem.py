"""Short English poems: the English task every graph and reward is also tested on."""

from __future__ import annotations

from inkforge.core.tasks.spec import TaskSpec

POEM_RUBRIC = (
    "The poem serves the request's theme and occasion.",
    "It shows through concrete images instead of stating abstractions.",
    "It avoids clichés and stock phrases (hearts of gold, endless skies) unless it renews them.",
    "Rhythm and line breaks are deliberate; no filler words to pad a line.",
    "Grammar and logic are sound; metaphors do not contradict each other.",
    "It has at least one moment of surprise or fresh perspective.",
)

POEM_FLAW_STRATEGY = (
    "Make it competent but generic: it would fit any request on the theme.",
    "Slip in one tired cliché among otherwise fresh lines.",
    "Ignore one minor detail of the request.",
    "Keep it very short and abstract, with no concrete image.",
    "Use a tone that does not fit the occasion.",
)

POEM_TASK = TaskSpec(
    name="poem",
    language="en",
    item="short poem",
    description=(
        "Write a short English poem (2-8 lines) for the user's request. A good poem serves the request's "
        "theme, uses concrete images rather than abstractions, avoids clichés, has a deliberate rhythm, "
        "is grammatical, and surprises the reader at least once."
    ),
    writer_instruction="Write only the poem: no title, no explanation.",
    rubric=POEM_RUBRIC,
    flaw_strategy=POEM_FLAW_STRATEGY,
    min_chars=20,
    max_chars=600,
    length_slice=(80, 200),
    policy_prefix="Write a short poem: ",
)
