"""YAML config files with located errors: the one home of reading a YAML mapping and of finding a key's line.

Every config loader (run configuration, refinement settings, training configs) reads its file through
:func:`read_yaml_mapping`, so a missing file, a non-UTF-8 byte, invalid YAML or a top level that is not
a mapping is reported the same way, and reports a bad field's line with :func:`yaml_line`.

Example:
    >>> text = "task: greeting\\nmodels:\\n  default:\\n    temperature: hot\\n"
    >>> yaml_line(text, ("models", "default", "temperature"))
    4
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from inkforge.core.errors import ConfigError, InputError

__all__ = ["read_yaml_mapping", "yaml_line"]


def read_yaml_mapping(path: str | os.PathLike[str], *,
                      error: type[InputError] = ConfigError) -> tuple[dict[str, Any], str]:
    """Read a YAML file whose top level is a mapping.

    Args:
        path: The file.
        error: Exception class raised on problems (located by file and, where known, line).

    Returns:
        ``(mapping, text)``: the parsed mapping (empty for an empty file) and the file's text, which
        :func:`yaml_line` needs to locate a field later.

    Raises:
        ConfigError: (or ``error``) missing file, not UTF-8, invalid YAML, or a top level that is not a
            mapping.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "run.yaml"
        >>> _ = p.write_text("concurrency: 4\\n", encoding="utf-8")
        >>> read_yaml_mapping(p)[0]
        {'concurrency': 4}
    """
    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise error("config file not found", file=src)
    try:
        text = p.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except UnicodeDecodeError as e:
        start = e.object.rfind(b"\n", 0, e.start) + 1
        raise error(f"not valid UTF-8 (byte 0x{e.object[e.start]:02x} at byte {e.start - start + 1} of the line); "
                    "re-save the file as UTF-8", file=src, line=e.object.count(b"\n", 0, e.start) + 1) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise error(f"invalid YAML: {getattr(e, 'problem', None) or e}", file=src,
                    line=mark.line + 1 if mark is not None else None) from None
    if data is None:
        return {}, text
    if not isinstance(data, dict):
        raise error(f"top level must be a mapping, got {type(data).__name__}", file=src, line=1)
    return data, text


def yaml_line(text: str, loc: Sequence[Any]) -> int | None:
    """Line (1-based) of the YAML node at ``loc`` (mapping keys and list indices), for error messages.

    The deepest node of ``loc`` that exists is reported: the line of ``models.judge`` when the
    missing field belongs inside it. ``None`` when ``text`` is not valid YAML or ``loc`` is empty and
    the document is.
    """
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line: int | None = node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line
