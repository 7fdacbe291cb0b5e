"""Turn the ``rewards:`` and ``guards:`` sections of a GRPO config into TRL reward functions.

A GRPO config lists its rewards as specs; TRL sums them with ``reward_weights``::

    rewards:
      - {type: judge, rubric: runs/refine/rubric.json, weight: 1.0}      # the refined LLM judge
      - {type: reward_model, path: runs/rm, weight: 1.0, batch_size: 32}  # a trained reward model
      - {type: rule, name: length_target, target: 40, weight: 0.2}        # a shaping rule
      - {type: python, target: "my_pkg.rewards:politeness", weight: 0.5}  # any TRL reward callable
    guards:
      - {name: default, language: zh}    # inkforge.rewards.guards.default_guards(language="zh")

Every key other than ``type``, ``name`` (for rules), ``weight`` is passed to the reward's
constructor. Guards wrap every reward (:class:`inkforge.rewards.guards.GuardedReward`), so a
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

__all__ = ["RULES", "build_guards", "build_reward_funcs", "build_reward"]

RewardFunc = Callable[..., list[float | None]]


def _rule_registry() -> dict[str, Callable[..., RewardFunc]]:
    from inkforge.rewards.rules import DistinctReward, LengthTargetReward

    return {"length_target": LengthTargetReward, "distinct": DistinctReward}


#: Names accepted by ``{type: rule, name: ...}``.
RULES: tuple[str, ...] = ("length_target", "distinct")


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
    options = {k: v for k, v in spec.items() if k not in ("type", "weight")}
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
) -> tuple[list[RewardFunc], list[float]]:
    """Build the reward functions and their weights for ``GRPOTrainer``.

    Args:
        specs: The config's ``rewards`` list.
        guards: The config's ``guards`` list; every reward is wrapped in ``GuardedReward``.
        guard_mode: Passed to ``GuardedReward`` as ``mode`` when set.

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
    funcs: list[Any] = [build_reward(dict(spec), i) for i, spec in enumerate(specs)]
    weights = [float(spec.get("weight", 1.0)) for spec in specs]
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
    return funcs, weights
