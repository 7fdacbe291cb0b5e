"""An offline stand-in for a real model, for the loopback stub server: English answers for every agent.

``python run.py`` uses it when ``INKFORGE_EXAMPLE_OFFLINE=1`` (or when no endpoint is configured), so the
example runs end to end without a GPU or an API key. Its "judgement" is a toy rule (a poem is good
when it has at least three lines and no stock phrase); a real model does the actual reading.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

STOCK = ("heart of gold", "reach for the stars", "silver lining", "year after year", "beyond compare",
         "sky is the limit", "plenty of fish", "endless love", "dreams come true")

# Candidates the stand-in writer picks from, per request (our own lines): a concrete poem, a stock one
# and a one-liner for each, so that most requests get both good and bad candidates.
POEMS = {
    "rainy": ("Your umbrella learns the city first.\nIt finds the bakery, the bus stop, the one dry bench.\n"
              "Call me when it knows your name.",
              "May your days be bright and your dreams come true,\nwith a heart of gold in all you do.", "Stay dry!"),
    "nurses": ("Night shift, ward six: the kettle, the charts,\nthe hand you held at 4 a.m.\nWe slept because you did not.",
               "Thank you nurses, year after year,\nyour endless love is always here.", "Thanks, nurses."),
    "bakery": ("Flour on the counter, flour on the sign,\nthe first loaf cooling in the window:\n"
               "the whole street lines up to breathe.", "Reach for the stars, the sky is the limit.", "Good luck!"),
    "bus driver": ("Last stop. You turn the engine off\nand the route keeps running in your hands,\n"
                   "thirty years of good mornings, kept.", "Enjoy your retirement, you have a heart of gold.", "Bye!"),
    "workshop": ("His chisels hang in the order he left them,\nsawdust still in the grain of the bench.\n"
                 "I oil the vice the way he showed me.", "Gone but not forgotten, beyond compare.", "Miss you."),
    "choir": ("You found each other in the second row,\none breath early, one a little late.\n"
              "Sing it together now, in time.", "Two hearts of gold, endless love, dreams come true.", "Congrats!"),
    "driving": ("The car will wait, the road is patient,\nthe cones forgive you already.\n"
                "Next month I'm buying the first coffee.", "Every cloud has a silver lining!", "Next time!"),
    "snow": ("Your boots are on the wrong feet\nand you do not care:\nthe whole garden is a page no one has written on.",
             "Snow so white, beyond compare, dreams come true everywhere.", "Snow!"),
}
FLAWED = (
    "Rain again, a grey old town,\nbut every cloud has a silver lining.\nYou'll be fine there.",
    "Thank you nurses, year after year,\nfor all your care.",
)


NEW_RULE = "Flag any stock phrase (a phrase you have read in a hundred greeting cards)."


def _text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])


def _candidate(text: str) -> str:
    m = re.search(r"Candidate short poem:\n(.*?)\n\n", text, re.S)
    return m.group(1) if m else ""


def good(poem: str) -> bool:
    """The toy rule: at least three lines and no stock phrase."""
    return poem.count("\n") >= 2 and not any(s in poem.lower() for s in STOCK)


def responder(body: dict[str, Any]) -> dict[str, Any] | None:
    """Answer by the schema the request asks for; ``None`` lets the stub generate from the schema."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name", "")
    text = _text(body)
    pick = hashlib.sha256(text.encode()).digest()[0]
    poem = _candidate(text)
    if schema == "WriterOutput":
        request = text.split("Request:", 1)[-1].split("\n", 1)[0].lower()
        options = next((p for key, p in POEMS.items() if key in request), POEMS["snow"])
        return {"text": options[pick % len(options)]}
    if schema == "PositiveCritique":
        return {"strengths": [{"dimension": "specificity", "comment": "a concrete image"}] if good(poem) else [],
                "summary": "Concrete and specific." if good(poem) else "Little to praise."}
    if schema == "NegativeCritique":
        issues = [] if good(poem) else [{"dimension": "cliche", "comment": "stock phrasing", "severity": "medium"}]
        return {"issues": issues, "summary": "No real flaw." if good(poem) else "Generic or too thin."}
    if schema == "JudgeVerdict":
        return {"reason": "Weighed both critiques.", "label": int(good(poem))}
    if schema == "ReflectorVerdict":
        return {"agrees": True, "reason": "The verdict follows the debate.", "final_label": int(good(poem))}
    if schema == "DetectorVerdict":
        # The stand-in detector only looks for stock phrases once the rubric has a rule saying so
        # explicitly (NEW_RULE below), so refine-judge has a mistake to learn from.
        shape_ok = poem.count("\n") >= 2
        verdict = good(poem) if NEW_RULE in text else shape_ok
        return {"explanation": "Checked rule by rule.", "verdict": "Good" if verdict else "Bad",
                "generator_suggestion": "Hide the cliché inside a concrete image."}
    if schema == "FlawedSample":
        return {"response": FLAWED[pick % len(FLAWED)], "planted_flaws": ["one stock phrase"],
                "explanation": "A tired phrase among otherwise plain lines."}
    if schema == "ErrorDiagnosis":
        return {"diagnosis": "The rubric does not name stock phrases explicitly.",
                "suggestion": "Add a rule against stock phrases such as 'heart of gold'."}
    if schema == "RubricRevision":
        current = re.findall(r"^\d+\. (.*)$", text.split("Feedback from this round")[0], re.M)
        rules = current if NEW_RULE in current else [*current[:9], NEW_RULE]
        return {"rules": rules or [NEW_RULE], "changes": "Merged the round's feedback into one rule."}
    return None
