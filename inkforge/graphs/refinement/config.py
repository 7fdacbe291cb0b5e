"""Settings of a judge-refinement run, and their one reader.

The settings can come from four places; :func:`load_refinement_config` reads them all, merged field by
field with this precedence, lowest first:

1. the defaults of :class:`RefinementConfig`;
2. the run configuration's ``refinement:`` section (``--config``; one YAML serves every command);
3. a ``--refine-config`` file (its top level, or its own ``refinement:`` mapping when it has one, so a
   run configuration works there too);
4. flags (``--iterations``, ``--val-fraction``, ``--test-fraction``, ``--patience``,
   ``--token-budget``, ``--seed``; a ``None`` flag is unset).

The run configuration (:class:`~inkforge.llm.config.InkforgeConfig`) lives in ``llm``, a floor below
the graphs, so it cannot know this model: it keeps its ``refinement:`` section as the raw mapping, and
this module is the one place that validates it. A bad value is reported with the file it came from
and its field.

Example:
    >>> from inkforge.llm import load_config
    >>> run = load_config(model="m", overrides={"refinement": {"iterations": 2, "patience": 4}})
    >>> cfg = load_refinement_config(run, flags={"iterations": 6, "seed": None})
    >>> cfg.iterations, cfg.patience, cfg.seed
    (6, 4, 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inkforge.agents.rubric_optimizer import MAX_RULES
from inkforge.core.errors import InputError
from inkforge.core.tasks import TaskSpec

__all__ = ["RefinementConfig", "default_rules", "load_refinement_config"]


class RefinementConfig(BaseModel):
    """Budgets, batch sizes, split and gate of a judge-refinement run.

    The labels (de-duplicated first) are split three ways, stratified by label and seeded: the
    **optimise** split feeds the reflection phase, the **select** split (``val_fraction``) is the gate's
    (accepting candidates and picking the best), and the **test** split (``test_fraction``) is used
    for no decision at all: the starting and the best rubric are judged on it once, at the end, and
    those are the figures reported (the select split's κ chose the winner, so it is biased upward).
    Each split gets at least one row of each class, so every class needs at least three rows.

    Attributes:
        iterations: Iterations (adversarial + reflection + gate) at most.
        patience: Stop after this many iterations without a κ improvement.
        token_budget: Stop once this many tokens were spent (checked after each gate); ``None``: no limit.
        adversarial_batch: Queries per adversarial phase.
        reflection_batch: Labelled rows of the optimise split per reflection phase.
        val_fraction: Share of the labels in the select split, the gate's (stratified by label).
        test_fraction: Share of the labels in the test split, judged only at the end (stratified by
            label); the optimise split gets the rest, so ``val_fraction + test_fraction < 1``.
        kappa_tolerance: A candidate is accepted iff its κ ≥ best κ − this.
        min_improvement: κ must exceed the best by more than this to reset patience.
        max_rules: Most rules in S_D and S_G (the optimiser's schema allows 10).
        seed: Seed of the split and of the batch draws.
        adversarial: Run the adversarial phase.
        reflection: Run the reflection phase.
        length_slice: Inclusive character bounds of the length-controlled slice; ``None``: the task's
            (``task.length_slice``).
        max_failure_rate: If the starting rubric's gate fails (status not ok) on more than this share of
            rows, stop with :class:`~inkforge.core.errors.FailFastError`: the endpoint is broken (the
            run's checkpoint is dropped). The final test-split evaluation stops the same way, keeping
            the loop's checkpoint, so resuming judges the test split again.
        initial_rubric: Starting S_D; ``None``: the task's default.
        initial_strategy: Starting S_G; ``None``: the task's default.
        feedback_chars: Texts quoted into optimiser feedback are cut to this many characters.

    Example:
        >>> RefinementConfig(iterations=3, val_fraction=0.25).kappa_tolerance
        0.0
        >>> try:
        ...     RefinementConfig(val_fraction=0.5, test_fraction=0.5)
        ... except ValueError as e:
        ...     print("must stay below 1" in str(e))
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    iterations: int = Field(default=5, ge=0)
    patience: int = Field(default=3, ge=1)
    token_budget: int | None = Field(default=None, gt=0)
    adversarial_batch: int = Field(default=8, ge=1)
    reflection_batch: int = Field(default=16, ge=1)
    val_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    kappa_tolerance: float = Field(default=0.0, ge=0.0, le=2.0)
    min_improvement: float = Field(default=0.0, ge=0.0)
    max_rules: int = Field(default=MAX_RULES, ge=1, le=MAX_RULES)
    seed: int = 0
    adversarial: bool = True
    reflection: bool = True
    length_slice: tuple[int, int] | None = None
    max_failure_rate: float = Field(default=0.5, gt=0.0, le=1.0)
    initial_rubric: tuple[str, ...] | None = None
    initial_strategy: tuple[str, ...] | None = None
    feedback_chars: int = Field(default=300, ge=20)

    @model_validator(mode="after")
    def _check(self) -> RefinementConfig:
        if not (self.adversarial or self.reflection):
            raise ValueError("enable at least one phase (adversarial or reflection)")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must stay below 1 (the optimise split gets the rest), "
                             f"got {self.val_fraction + self.test_fraction:g}")
        if self.length_slice is not None and self.length_slice[0] > self.length_slice[1]:
            raise ValueError("length_slice must be (low, high) with low <= high")
        for name in ("initial_rubric", "initial_strategy"):
            rules = getattr(self, name)
            if rules is not None and not 1 <= len(rules) <= self.max_rules:
                raise ValueError(f"{name} needs 1 to max_rules ({self.max_rules}) rules")
        return self

    @classmethod
    def load(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> RefinementConfig:
        """Read a YAML file of these fields (a top-level ``refinement:`` mapping is also accepted).

        The same as ``load_refinement_config(file=path, flags=overrides)``.

        Args:
            path: The YAML file.
            overrides: Fields set on top (``None`` values are ignored), e.g. from CLI flags.

        Raises:
            InputError: Missing file, bad YAML, or a field that does not validate (file and field named).

        Example:
            >>> import pathlib, tempfile
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "refine.yaml"
            >>> _ = p.write_text("refinement:\\n  iterations: 4\\n", encoding="utf-8")
            >>> RefinementConfig.load(p, {"seed": 3}).iterations
            4
        """
        return load_refinement_config(file=path, flags=overrides)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *,
                  source: str = "<flags>") -> RefinementConfig:
        """Validate ``data`` plus the non-``None`` ``overrides``; errors name the source and the field.

        Example:
            >>> RefinementConfig.from_dict({"iterations": 2}, {"iterations": 4, "seed": None}).iterations
            4
        """
        return _resolve([(source, "", dict(data)), (_FLAGS, "", _set(overrides))])


# ------------------------------------------------------------------------------------------ reader

_FLAGS = "<flags>"

#: A settings layer: (where it came from, field prefix in that file, its values).
_Layer = tuple[str, str, dict[str, Any]]


def _set(flags: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (flags or {}).items() if v is not None}


def _read_file(path: str | Path) -> _Layer:
    from inkforge.core.yamlio import read_yaml_mapping

    p = Path(path)
    if not p.is_file():
        raise InputError("refinement config not found", file=str(p))
    # The shared YAML reader: bad YAML and non-UTF-8 bytes are reported with their line.
    raw, _ = read_yaml_mapping(p, error=InputError)
    if "refinement" in raw:
        # A run configuration given as --refine-config: its section holds the settings, the rest is
        # the run's (models, task...), read by the command's --config.
        section = raw["refinement"]
        if not isinstance(section, dict):
            raise InputError("must be a mapping of RefinementConfig fields", file=str(p), field="refinement")
        return str(p), "refinement.", dict(section)
    return str(p), "", raw


def _resolve(layers: list[_Layer]) -> RefinementConfig:
    merged: dict[str, Any] = {}
    origin: dict[str, tuple[str, str]] = {}
    for source, prefix, values in layers:
        for key, value in values.items():
            merged[key] = value
            origin[key] = (source, prefix)
    try:
        return RefinementConfig.model_validate(merged)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(x) for x in err["loc"]]
        if loc and loc[0] in origin:
            source, prefix = origin[loc[0]]
            raise InputError(err["msg"], file=source, field=prefix + ".".join(loc)) from None
        # A rule across fields (no single field to blame): name every layer that set something.
        sources = [s for s, _, v in layers if v] or ["<defaults>"]
        raise InputError(err["msg"], file=" + ".join(dict.fromkeys(sources))) from None


def load_refinement_config(run_config: Any = None, file: str | Path | None = None,
                           flags: Mapping[str, Any] | None = None) -> RefinementConfig:
    """The refinement settings of a run, from every place they can be given (see the module docstring).

    Args:
        run_config: The run's :class:`~inkforge.llm.config.InkforgeConfig` (its ``refinement:``
            section), or ``None``.
        file: A ``--refine-config`` YAML file, or ``None``.
        flags: Fields set on top; ``None`` values are unset.

    Raises:
        InputError: Missing file, bad YAML, or a field that does not validate; the message names the
            file (``<flags>`` for a flag) and the field as written there (``refinement.iterations``).

    Example:
        >>> try:
        ...     load_refinement_config(flags={"val_fraction": 1.5})
        ... except InputError as e:
        ...     print(e.file, e.field)
        <flags> val_fraction
    """
    layers: list[_Layer] = []
    if run_config is not None:
        section = getattr(run_config, "refinement", None) or {}
        layers.append((getattr(run_config, "source", None) or "<run config>", "refinement.", dict(section)))
    if file is not None:
        layers.append(_read_file(file))
    layers.append((_FLAGS, "", _set(flags)))
    return _resolve(layers)


def default_rules(task: TaskSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(S_D, S_G) defaults of a task.

    Raises:
        InputError: The task has no starting rubric or strategy (set ``initial_rubric`` /
            ``initial_strategy``).

    Example:
        >>> from inkforge.core.tasks import GREETING_TASK
        >>> rubric, strategy = default_rules(GREETING_TASK)
        >>> len(rubric), len(strategy)
        (6, 5)
    """
    if not task.rubric or not task.flaw_strategy:
        raise InputError(f"no default rubric/strategy for task {task.name!r}; set initial_rubric and "
                         "initial_strategy in the refinement config", field="task")
    return task.rubric, task.flaw_strategy
