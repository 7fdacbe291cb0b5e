"""Scripted responders that play inkforge's shipped agents on a :class:`~inkforge.testing.FakeChatModel`.

A responder answers from the call record (:class:`~inkforge.testing.FakeCall`): the output schema's
name says which agent is asking, and the agent's run metadata carries the template variables it was
called with (``call.inputs``), so a responder never has to find its way through the prompt text.

Example:
    >>> from inkforge.graphs.curation import curate
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder(good=lambda t: "好" in t)))
    >>> rows = [{"id": "q1", "query": "同事升职了，发一句祝贺", "responses": ["恭喜高升，好运常在！", "恭喜。"]}]
    >>> [(p["chosen"], p["rejected"]) for p in curate(rows, rt, mode="judge_given", as_records=True)]
    [('恭喜高升，好运常在！', '恭喜。')]
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from inkforge.testing.fake import FakeCall

__all__ = ["fake_curation_responder"]

_WISHES = "福乐绵长吉祥如意"
_MIDDLE = "春夏秋冬天地日月山海风云星河花雨"


def fake_curation_responder(good: Callable[[str], bool] | None = None) -> Callable[[FakeCall], Any]:
    """A :class:`~inkforge.testing.FakeChatModel` responder that plays every curation agent.

    The writer's text is a function of its prompt's hash (a deterministic model: candidates differ
    when their prompts do, e.g. through ``vary_examples``), with varying lengths. Critics, judge and
    reflector answer by output schema about the candidate they were called with (the agent's
    ``response`` variable, from ``call.inputs``), so one candidate gets one consistent story across
    all of them: it is good when ``good(candidate_text)`` is true (default: its last character code is
    even), so a query usually gets both good and bad candidates. Handy for notebooks and tests.

    Args:
        good: Candidate text → whether the critics, judge and reflector find it good.

    Returns:
        A responder taking the :class:`~inkforge.testing.FakeCall`.

    Raises:
        ValueError: (at call time) A call it cannot answer: an unknown schema, or a critic, judge or
            reflector call without a ``response`` input (not made by an inkforge agent).
    """
    is_good_text = good or (lambda text: ord(text[-1]) % 2 == 0)

    def respond(call: FakeCall) -> Any:
        # A plain (``prompt`` method) call has no schema on the wire; the agent's metadata names it.
        name = call.schema or call.metadata.get("inkforge_schema")
        if name == "WriterOutput":
            h = hashlib.sha256(call.text.encode()).hexdigest()
            # The middle word spreads texts over 384 values, so distinct prompts rarely collide (the
            # curation graph never debates or pairs a repeated candidate).
            return {"text": "愿你" + "好运常在" * (1 + int(h[0], 16) % 3) + _MIDDLE[int(h[2], 16)]
                    + _WISHES[int(h[1], 16) % 8]}
        response = call.inputs.get("response")
        if not isinstance(response, str) or not response:
            raise ValueError(f"fake_curation_responder: a {name} call needs the agent's 'response' input "
                             f"(run metadata inkforge_inputs); got inputs {sorted(call.inputs)}")
        is_good = is_good_text(response)
        if name == "PositiveCritique":
            return {"strengths": [{"dimension": "sincerity", "comment": "真挚"}] * (2 if is_good else 1),
                    "summary": "有可取之处"}
        if name == "NegativeCritique":
            return {"issues": [] if is_good else [{"dimension": "cliche", "comment": "套话", "severity": "medium"}],
                    "summary": "问题不大" if is_good else "较空泛"}
        if name == "JudgeVerdict":
            return {"reason": "依据双方意见", "label": int(is_good)}
        if name == "ReflectorVerdict":
            return {"agrees": True, "reason": "维持原判", "final_label": int(is_good)}
        raise ValueError(f"fake_curation_responder: no answer for schema {name!r}")

    return respond
