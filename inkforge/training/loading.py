"""Reading a training config: YAML defaults, command-line overrides, every value checked and located.

:func:`parse_config` and :func:`load_config` go through :class:`trl.TrlParser` (YAML values become
defaults, command-line flags win, an ``env:`` mapping sets environment variables), after checking
every YAML value against its field's type, so a wrong type, an unknown key or a missing required
field is a :class:`~inkforge.core.errors.ConfigError` naming the file, the line and the field, never
an argparse usage dump. The config dataclasses live in :mod:`inkforge.training.config`, which
re-exports both functions.

Example:
    >>> from inkforge.training.config import SFTTrainingConfig
    >>> load_config(SFTTrainingConfig, "smoke_sft.yaml", max_steps=1, bf16=False).max_steps
    1
"""

from __future__ import annotations

import difflib
import enum
import functools
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from trl import TrlParser

from inkforge.core.errors import ConfigError
from inkforge.core.yamlio import read_yaml_mapping, yaml_line

__all__ = ["CONFIG_DIR", "load_config", "parse_config"]

#: Bundled YAML configs (paper setups and smoke tests).
CONFIG_DIR = Path(__file__).parent / "configs"

ConfigT = TypeVar("ConfigT")


class _Parser(TrlParser):
    """TRL's parser, raising instead of printing argparse's usage and exiting."""

    def error(self, message: str) -> typing.NoReturn:  # type: ignore[override]
        raise ConfigError(message, file="<command line>")


@functools.cache
def _field_types(config_cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints.get(f.name, Any) for f in fields(config_cls) if f.init}


def _members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def _checkable(tp: Any) -> bool:
    """Whether pydantic can check ``tp`` faithfully: builtins, enums, typing constructs, not arbitrary classes."""
    if tp is Any or tp is type(None) or tp in (bool, int, float, str, dict, list, tuple):
        return True
    if isinstance(tp, type):
        return issubclass(tp, enum.Enum)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return True
    return origin is not None and all(_checkable(a) for a in typing.get_args(tp) if a is not Ellipsis)


@functools.cache
def _adapter(tp: Any) -> Any:
    from pydantic import ConfigDict, TypeAdapter

    # Numbers become strings where a string is expected (``run_name: 2024``), as on the command line.
    return TypeAdapter(tp, config=ConfigDict(coerce_numbers_to_str=True))


def _type_name(tp: Any) -> str:
    names = []
    for m in _members(tp):
        if m is type(None):
            names.append("null")
        elif isinstance(m, type) and issubclass(m, enum.Enum):
            names.append("one of " + ", ".join(repr(e.value) for e in m))
        elif isinstance(m, type):
            names.append(m.__name__)
        else:
            names.append(str(m).replace("typing.", ""))
    return " or ".join(dict.fromkeys(names))


def _check_value(tp: Any, value: Any) -> Any:
    """``value`` converted to the field type ``tp`` (``"1e-5"`` → ``1e-05``); ``ValueError`` if it is not one."""
    members = _members(tp)
    accepts_bool = any(m is bool or (typing.get_origin(m) is typing.Literal and
                                     any(isinstance(a, bool) for a in typing.get_args(m))) for m in members)
    if isinstance(value, bool) and not accepts_bool and Any not in members:
        hint = " (YAML reads unquoted yes/no/on/off as booleans: quote the value)" if str in members else ""
        raise ValueError(f"expected {_type_name(tp)}, got {value!r}{hint}")
    choices = [m for m in members if isinstance(m, type) and issubclass(m, enum.Enum)]
    if choices and isinstance(value, str) and not isinstance(value, enum.Enum):
        allowed = {e.value for c in choices for e in c}
        if value not in allowed:
            raise ValueError(f"expected {_type_name(tp)}, got {value!r}")
        return value
    if not _checkable(tp):
        return value
    from pydantic import ValidationError

    try:
        return _adapter(tp).validate_python(value)
    except ValidationError:
        raise ValueError(f"expected {_type_name(tp)}, got {value!r}") from None


def _checked_values(config_cls: type, values: Mapping[str, Any], *, file: str | None, text: str,
                    prefix: str = "") -> dict[str, Any]:
    """Check keys and value types of YAML values (or Python overrides) before the dataclass sees them."""
    known = _field_types(config_cls)
    unknown = [k for k in values if k not in known]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{prefix}unknown keys {unknown}{hint}", file=file, field=str(unknown[0]),
                          line=yaml_line(text, (unknown[0],)) if text else None)
    out = {}
    for key, value in values.items():
        try:
            out[key] = _check_value(known[key], value)
        except ValueError as e:
            raise ConfigError(f"{prefix}{e}", file=file, field=key,
                              line=yaml_line(text, (key,)) if text else None) from None
    return out


def _find_config(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        # Bundled configs can be named without their folder: --config smoke_grpo.yaml
        bundled = CONFIG_DIR / p
        if bundled.is_file():
            return bundled
        raise ConfigError("no such config file", file=str(p))
    return p


def _read_yaml(config_cls: type, path: str | os.PathLike[str]) -> tuple[dict[str, Any], str, str]:
    """(checked values, file, text) of a training YAML; its ``env:`` mapping is applied to ``os.environ``."""
    p = _find_config(path)
    loaded, text = read_yaml_mapping(p)
    env = loaded.pop("env", None) or {}
    if not isinstance(env, dict):
        raise ConfigError("must be a mapping of variable -> value", file=str(p), field="env",
                          line=yaml_line(text, ("env",)))
    values = _checked_values(config_cls, loaded, file=str(p), text=text)
    for key, value in env.items():
        os.environ[str(key)] = str(value)
    return values, str(p), text


def _located(exc: ValueError, file: str | None, text: str, values: Mapping[str, Any]) -> ConfigError:
    """A config dataclass's own error, with the file and, when the field came from the YAML, its line."""
    if isinstance(exc, ConfigError):
        name = exc.field
        line = exc.line or (yaml_line(text, (name,)) if text and name in values else None)
        return ConfigError(exc.message, file=exc.file or file, line=line, field=name)
    message = " ".join(str(exc).split())
    if "not used by the HfArgumentParser" in message:
        # argparse left these over: flags that are no field of the config.
        return ConfigError("unknown flags " + message.split(":", 1)[1].strip(), file="<command line>")
    # TRL's and transformers' own checks (mutually exclusive options...): one line, with the file.
    return ConfigError(message, file=file)


def _remember_source(config: Any, file: str | None) -> None:
    config._config_file = file  # for check_paths' messages; not a dataclass field, never serialised


def parse_config(config_cls: type[ConfigT], args: Sequence[str] | None = None) -> ConfigT:
    """Parse ``--config YAML`` plus command-line overrides into a config dataclass.

    Args:
        config_cls: :class:`SFTTrainingConfig`, :class:`RewardTrainingConfig` or :class:`GRPOTrainingConfig`.
        args: Command-line arguments (``["--config", "x.yaml", "--max_steps", "5"]``); defaults to
            ``sys.argv[1:]``.

    Returns:
        The config.

    Raises:
        ConfigError: An unknown key, a value of the wrong type, or a missing required field, naming
            the file, the line and the field; or a bad command-line flag, in one line.

    Example:
        >>> from inkforge.training.config import SFTTrainingConfig
        >>> cfg = parse_config(SFTTrainingConfig, ["--config", "smoke_sft.yaml", "--max_steps", "1", "--bf16", "false"])
        >>> cfg.max_steps, Path(cfg.train_file).name
        (1, 'sample_corpus.jsonl')
    """
    import sys

    argv = list(args) if args is not None else sys.argv[1:]
    values: dict[str, Any] = {}
    file, text = None, ""
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise ConfigError("--config needs a YAML path")
        values, file, text = _read_yaml(config_cls, argv[index + 1])
        del argv[index:index + 2]
    # No abbreviations: --learning_rat must be an error, not silently --learning_rate.
    parser = _Parser([config_cls], allow_abbrev=False)  # type: ignore[list-item]
    parser.set_defaults_with_config(**values)
    try:
        (config,) = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as exc:
        raise _located(exc, file, text, values) from None
    _remember_source(config, file)
    return config  # type: ignore[no-any-return]


def load_config(
    config_cls: type[ConfigT], path: str | os.PathLike[str] | None = None, **overrides: Any
) -> ConfigT:
    """Build a config from a YAML file and Python overrides, without going through argparse.

    Args:
        config_cls: The config dataclass.
        path: YAML file (a bundled config's file name also works), or ``None``.
        **overrides: Field values that replace the YAML's.

    Returns:
        The config.

    Raises:
        ConfigError: An unknown key or a value of the wrong type (in the YAML: with file, line and
            field), or a missing required field.

    Example:
        >>> from inkforge.training.config import GRPOTrainingConfig
        >>> cfg = load_config(GRPOTrainingConfig, "smoke_grpo.yaml", bf16=False, max_steps=2)
        >>> cfg.max_steps, cfg.reward_weights
        (2, [1.0])
    """
    values: dict[str, Any] = {}
    file, text = None, ""
    if path is not None:
        values, file, text = _read_yaml(config_cls, path)
    values.update(_checked_values(config_cls, overrides, file=None, text="", prefix="override: "))
    try:
        config = config_cls(**values)
    except ValueError as exc:
        raise _located(exc, file, text, {k: v for k, v in values.items() if k not in overrides}) from None
    _remember_source(config, file)
    return config
