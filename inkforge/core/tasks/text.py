"""The fixed words graphs put into prompts and optimiser feedback, one set per prompt language.

Graphs never branch on a language: they read these strings from the run's task
(:attr:`~inkforge.core.tasks.TaskSpec.text`). A task in a new language brings its own
:class:`TaskText` (and its prompt templates).

Example:
    >>> ZH_TEXT.request_label, EN_TEXT.request_label
    ('请求：', 'Request: ')
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TaskText(BaseModel):
    """Language strings of a task.

    Attributes:
        none: How "nothing" reads (an empty list, a dropped critic).
        request_label: Label before each few-shot example's request.
        summary_label: Label before a critique's summary.
        target_rubric: How the optimiser is told it revises S_D.
        target_strategy: How the optimiser is told it revises S_G.
        fooled: Feedback for S_D when a planted flaw fooled the detector (``{query}``, ``{response}``,
            ``{flaws}``, ``{explanation}``, ``{detector_explanation}``).
        caught: Feedback for S_G when the detector caught the flaws (``{flaws}``,
            ``{detector_explanation}``, ``{suggestion}``).
        mistake: Feedback for S_D on a misjudged human-labelled row (``{human}``, ``{verdict}``,
            ``{query}``, ``{response}``, ``{diagnosis}``, ``{suggestion}``).
        good: A human "good" label in feedback.
        bad: A human "not good" label in feedback.
        list_separator: Joins short lists quoted into feedback.
    """

    model_config = ConfigDict(frozen=True)

    none: str
    request_label: str
    summary_label: str
    target_rubric: str
    target_strategy: str
    fooled: str
    caught: str
    mistake: str
    good: str
    bad: str
    list_separator: str


ZH_TEXT = TaskText(
    none="（无）",
    request_label="请求：",
    summary_label="总结：",
    target_rubric="S_D：质检员的评审准则",
    target_strategy="S_G：缺陷生成策略",
    fooled=("质检员漏判：请求「{query}」的作品「{response}」被判为 Good，但其中植入了缺陷：{flaws}。"
            "生成者的说明：{explanation}。质检员的理由：{detector_explanation}"),
    caught=("质检员识破了植入的缺陷（{flaws}）。质检员的理由：{detector_explanation}。"
            "让缺陷更隐蔽的建议：{suggestion}"),
    mistake=("人工标注为{human}，质检员判为 {verdict}。请求「{query}」，作品「{response}」。"
             "误判原因：{diagnosis}。修改建议：{suggestion}"),
    good="好",
    bad="不好",
    list_separator="；",
)

EN_TEXT = TaskText(
    none="(none)",
    request_label="Request: ",
    summary_label="Summary: ",
    target_rubric="S_D: the judge's rubric",
    target_strategy="S_G: the flaw-generation strategy",
    fooled=("The judge was fooled: for the request '{query}' it judged '{response}' Good, but it carries "
            "planted flaws: {flaws}. Generator's explanation: {explanation}. Judge's reasoning: "
            "{detector_explanation}"),
    caught=("The judge caught the planted flaws ({flaws}). Judge's reasoning: {detector_explanation}. "
            "How to make them subtler: {suggestion}"),
    mistake=("Human label: {human}; the judge said {verdict}. Request '{query}', item '{response}'. "
             "Diagnosis: {diagnosis}. Suggestion: {suggestion}"),
    good="good",
    bad="not good",
    list_separator="; ",
)

#: Shipped strings by language code, used when a task names no ``text`` of its own.
TEXTS: dict[str, TaskText] = {"zh": ZH_TEXT, "en": EN_TEXT}
