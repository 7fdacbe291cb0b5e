"""Turn the ``rewards:`` and ``guards:`` sections of a GRPO config into TRL reward functions.

A GRPO config lists its rewards as specs; TRL sums them with ``reward_weights``::

    rewards:
      - {type: judge, rubric: runs/refine/rubric.json, weight: 1.0}      # the refined LLM judge
      - {type: reward_model, path: runs/rm, weight: 1.0, batch_size: 32}  # a trained reward model
      - {type: rule, name: length_target, target: 40, weight: 0.2}        # a shaping rule
      - {type: python, target: "my_pkg.rewards:politeness", weight: 0.5}  # any TRL reward callable
    guards:
      - {name: default, language: zh}    # inkforge.rewards.guards.default_guards(language="zh")

Every key other than ``type``, ``name`` (for rules), ``weight``, ``mask_on_failure`` and ``debias``
is passed to the reward's constructor. Two keys apply to any reward:

* ``debias``: length debiasing (:mod:`inkforge.rewards.debias`), applied to this reward's score
  before guards and weights::

      debias:
        length_residual: {scope: group}            # or true: regress out length within GRPO groups
        length_band: {per_char: 0.05, unit: std}   # or true: penalise characters outside 30-50

* ``mask_on_failure`` (default ``true`` for a judge, ``false`` otherwise): when this reward fails
  (``None``) for a completion, every reward of that completion is masked, so TRL drops it from the
  loss instead of summing the others (:class:`inkforge.rewards.masking.MaskedRewardSet`).

Guards wrap every reward (:class:`inkforge.rewards.guards.GuardedReward`), so a
completion that trips a guard (a refusal, a second greeting, a wrong language...) is handled the same
way whichever reward scores it.

Example:
    >>> funcs, weights = build_reward_funcs([{"type": "rule", "name": "length_target", "target": 30}])
    >>> funcs[0].__name__, weights
    ('length_target', [1.0])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from inkforge.core.errors import ConfigError
from inkforge.core.plugins import import_object

__all__ = ["DEBIAS", "RULES", "build_debias", "build_guards", "build_reward_funcs", "build_reward"]

RewardFunc = Callable[..., list[float | None]]


def _rule_registry() -> dict[str, Callable[..., RewardFunc]]:
    from inkforge.rewards.rules import DistinctReward, LengthTargetReward

    return {"length_target": LengthTargetReward, "distinct": DistinctReward}


#: Names accepted by ``{type: rule, name: ...}``.
RULES: tuple[str, ...] = ("length_target", "distinct")

#: Keys of a reward spec's ``debias`` mapping, in the order they are applied.
DEBIAS: tuple[str, ...] = ("length_residual", "length_band")

#: Spec keys that configure the reward's handling rather than its constructor.
_HANDLING_KEYS = ("type", "weight", "mask_on_failure", "debias")


def build_debias(func: RewardFunc, debias: Any, *, num_generations: int | None = None,
                 where: str = "rewards[0]") -> RewardFunc:
    """Wrap ``func`` in the length debiasing its spec's ``debias`` mapping asks for.

    Args:
        func: The reward.
        debias: ``{length_residual: {...} | true, length_band: {...} | true}`` (``None``: none).
        num_generations: GRPO group size, the default for ``length_residual``'s groups.
        where: The spec's position, for error messages.

    Returns:
        ``func`` itself, or ``length_band(length_residual(func))`` (whichever are on).

    Raises:
        ConfigError: An unknown key or option.

    Example:
        >>> from inkforge.rewards.rules import DistinctReward
        >>> build_debias(DistinctReward(), {"length_band": {"band": [30, 50]}}).__name__
        'distinct_length_band'
    """
    if debias is None or debias is False:
        return func
    if not isinstance(debias, dict):
        raise ConfigError(f"expected a mapping with keys {list(DEBIAS)}, got {debias!r}", field=f"{where}.debias")
    unknown = [k for k in debias if k not in DEBIAS]
    if unknown:
        raise ConfigError(f"unknown debias option {unknown[0]!r}; known: {list(DEBIAS)}", field=f"{where}.debias")
    from inkforge.rewards.debias import LengthBandPenalty, LengthResidualReward

    classes: dict[str, Any] = {"length_residual": LengthResidualReward, "length_band": LengthBandPenalty}
    for key in DEBIAS:
        options = debias.get(key)
        if options is None or options is False:
            continue
        options = {} if options is True else options
        if not isinstance(options, dict):
            raise ConfigError(f"expected true or a mapping, got {options!r}", field=f"{where}.debias.{key}")
        if key == "length_residual" and num_generations is not None:
            options = {"num_generations": num_generations, **options}
        try:
            func = classes[key](func, **options)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(str(exc), field=f"{where}.debias.{key}") from exc
    return func


def build_reward(spec: dict[str, Any], index: int = 0) -> RewardFunc:
    """Build one reward function from its spec (without guards).

    Args:
        spec: ``{type: rule|reward_model|judge|python, ...}``; see the module docstring.
        index: Position in the ``rewards`` list, for error messages.

    Returns:
        A TRL reward callable.

    Raises:
        ConfigError: Unknown type or rule, or a missing required key.
    """
    where = f"rewards[{index}]"
    kind = spec.get("type")
    options = {k: v for k, v in spec.items() if k not in _HANDLING_KEYS}
    if kind == "rule":
        name = options.pop("name", None)
        registry = _rule_registry()
        if name not in registry:
            raise ConfigError(f"unknown rule {name!r}; known: {sorted(registry)}", field=f"{where}.name")
        if name == "length_target" and "target" in options:  # the short spelling used in configs
            options["target_chars"] = options.pop("target")
        try:
            return registry[name](**options)
        except TypeError as exc:
            raise ConfigError(str(exc), field=where) from exc
    if kind == "reward_model":
        from inkforge.rewards.reward_model import RewardModelReward

        path = options.pop("path", None)
        if not path:
            raise ConfigError("a reward_model reward needs 'path' (the trained model folder)", field=f"{where}.path")
        return RewardModelReward(path, **options)
    if kind == "judge":
        rubric = options.pop("rubric", None)
        if not rubric:
            raise ConfigError("a judge reward needs 'rubric' (a rubric.json)", field=f"{where}.rubric")
        try:
            from inkforge.rewards.judge import JudgeReward
        except ImportError as exc:
            raise ConfigError(f"the judge reward is unavailable: {exc}", field=where) from exc
        return JudgeReward.from_rubric(rubric, **options)
    if kind == "python":
        target = options.pop("target", None)
        if not target:
            raise ConfigError("a python reward needs 'target' ('package.module:callable')", field=f"{where}.target")
        obj = import_object(str(target), field=f"{where}.target")
        # A class (or factory) with options is instantiated; a plain function is used as is.
        return obj(**options) if options or isinstance(obj, type) else obj
    raise ConfigError(f"unknown reward type {kind!r}; use rule, reward_model, judge or python", field=f"{where}.type")


def build_guards(specs: Sequence[dict[str, Any]]) -> list[Any]:
    """Build guard objects from ``guards:`` specs.

    ``{name: default, language: zh}`` expands to :func:`inkforge.rewards.guards.default_guards`;
    ``{target: "pkg.mod:Guard", ...}`` calls the target with the other keys.

    Args:
        specs: Guard specs.

    Returns:
        Guard objects for :class:`inkforge.rewards.guards.GuardedReward`.
    """
    guards: list[Any] = []
    for index, spec in enumerate(specs):
        where = f"guards[{index}]"
        options = dict(spec)
        if "target" in options:
            factory = import_object(str(options.pop("target")), field=f"{where}.target")
            built = factory(**options)
            guards.extend(built if isinstance(built, list | tuple) else [built])
        elif options.get("name", "default") == "default":
            options.pop("name", None)
            try:
                from inkforge.rewards.guards import default_guards
            except ImportError as exc:
                raise ConfigError(f"guards are unavailable: {exc}", field=where) from exc
            guards.extend(default_guards(**options))
        else:
            raise ConfigError(f"unknown guard {options.get('name')!r}; use 'default' or a 'target'", field=where)
    return guards


def _unique_names(funcs: list[RewardFunc]) -> None:
    """Give every reward a distinct ``__name__``: TRL logs ``rewards/<name>/mean`` per reward."""
    seen: dict[str, int] = {}
    for func in funcs:
        name = getattr(func, "__name__", type(func).__name__)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            try:
                func.__name__ = f"{name}_{seen[name]}"  # type: ignore[attr-defined]
            except (AttributeError, TypeError):  # a builtin or a bound method: keep TRL's name
                pass


def build_reward_funcs(
    specs: Sequence[dict[str, Any]],
    *,
    guards: Sequence[dict[str, Any]] = (),
    guard_mode: str | None = None,
    mask_policy: str = "row",
    num_generations: int | None = None,
) -> tuple[list[RewardFunc], list[float]]:
    """Build the reward functions and their weights for ``GRPOTrainer``.

    Each reward is built, length-debiased (its ``debias``), guarded, then, when any spec has
    ``mask_on_failure`` (every judge by default), the list becomes the views of one
    :class:`~inkforge.rewards.masking.MaskedRewardSet`, so a failure masks the whole completion.

    Args:
        specs: The config's ``rewards`` list.
        guards: The config's ``guards`` list; every reward is wrapped in ``GuardedReward``.
        guard_mode: Passed to ``GuardedReward`` as ``mode`` when set.
        mask_policy: ``row`` (mask the failed completion) or ``group`` (mask its whole group).
        num_generations: GRPO group size (groups for ``length_residual`` and ``mask_policy: group``).

    Returns:
        ``(reward_funcs, reward_weights)`` for ``GRPOTrainer(reward_funcs=...)`` and
        ``GRPOConfig(reward_weights=...)``.

    Raises:
        ConfigError: A bad spec.

    Example:
        >>> funcs, w = build_reward_funcs([{"type": "rule", "name": "distinct", "weight": 0.5}])
        >>> w
        [0.5]
    """
    if not specs:
        raise ConfigError("at least one reward spec is required", field="rewards")
    if mask_policy not in ("row", "group"):
        raise ConfigError(f"must be 'row' or 'group', got {mask_policy!r}", field="reward_mask_policy")
    funcs: list[Any] = [build_debias(build_reward(dict(spec), i), spec.get("debias"),
                                     num_generations=num_generations, where=f"rewards[{i}]")
                        for i, spec in enumerate(specs)]
    weights = [float(spec.get("weight", 1.0)) for spec in specs]
    flags = []
    for i, spec in enumerate(specs):
        flag = spec.get("mask_on_failure", spec.get("type") == "judge")
        if not isinstance(flag, bool):
            raise ConfigError(f"expected true or false, got {flag!r}", field=f"rewards[{i}].mask_on_failure")
        flags.append(flag)
    guard_objects = build_guards(guards) if guards else []
    if guard_objects:
        from inkforge.rewards.guards import GuardedReward

        # GuardedReward names itself guarded_<name>, so TRL logs rewards/guarded_<name>/mean.
        kwargs: dict[str, Any] = {"mode": guard_mode} if guard_mode else {}
        try:
            funcs = [GuardedReward(func, guard_objects, **kwargs) for func in funcs]
        except ValueError as exc:
            raise ConfigError(str(exc), field="guard_mode") from exc
    _unique_names(funcs)
    if any(flags):
        from inkforge.rewards.masking import MaskedRewardSet

        funcs = list(MaskedRewardSet(funcs, flags, policy=mask_policy,  # type: ignore[arg-type]
                                     num_generations=num_generations).funcs)
    return funcs, weights
