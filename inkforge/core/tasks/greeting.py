"""The paper's task: Chinese greetings (祝福语), with our wording of its starting rubric and flaw strategy."""

from __future__ import annotations

from inkforge.core.tasks.spec import TaskSpec

#: Our wording of the paper's six starting principles for greetings (S_D).
GREETING_RUBRIC = (
    "祝福语必须服务于请求的核心目的：写给谁、为了什么场合，一读就明白。",
    "情感要真挚具体，不能只是空泛的客套话或口号。",
    "措辞和语气要符合双方的关系与场合（长辈、同事、恋人、客户等各不相同）。",
    "出现被用滥的陈词滥调（如“万事如意”“心想事成”堆砌）时要扣分，除非有新意的化用。",
    "不能有错别字、语病、逻辑不通或前后矛盾。",
    "要体现对对方或这件事的真实关心，而不是换个称呼就能发给任何人的模板。",
)

#: Our wording of the paper's five starting flaw strategies (S_G).
GREETING_FLAW_STRATEGY = (
    "写得四平八稳，但内容通用，换任何场合都能用。",
    "在整体得体的句子里混入一个陈旧、俗套的说法。",
    "忽略请求中的一个次要细节（如年龄、身份、具体事件）。",
    "写得很短，只有形式上的祝愿，没有具体的情感。",
    "语气与场景不符（如对长辈过于随意，对同事过于肉麻）。",
)

GREETING_TASK = TaskSpec(
    name="greeting",
    language="zh",
    item="祝福语",
    description=(
        "根据用户的请求写一条中文祝福语。好的祝福语紧扣请求的核心目的与场景，情感真挚而不是客套，"
        "措辞与语气符合双方关系和场合，避免陈词滥调，没有语病，体现对对方或事件的具体关怀，而不是套用模板。"
    ),
    writer_instruction="请只生成一条祝福语，不要解释，不要加引号或标题。",
    rubric=GREETING_RUBRIC,
    flaw_strategy=GREETING_FLAW_STRATEGY,
    min_chars=4,
    max_chars=300,
    length_slice=(30, 50),
    # On the paper's human labels `len >= 39` alone predicts the label ~90% of the time.
    length_rule_threshold=39,
    policy_prefix="请只生成一条祝福语：",
)
