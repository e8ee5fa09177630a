"""A profile's parameters: ``parameters/<profile>/_shared.yaml`` under each notebook's own file.

The shared file holds the keys every notebook of the profile has in common (data, model, recipe,
seeds, device); a notebook's file adds its own keys and overrides shared ones. Papermill takes both
in order (``-f parameters/<profile>/_shared.yaml -f parameters/<profile>/<notebook>.yaml``);
``merged`` gives the result. A profile that does not exist, a missing file or one that is not a
YAML mapping is a ``ProfileError`` that names it (and, for a misspelt profile, the closest one).
Cost: reading two small YAML files.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

SHARED = "_shared.yaml"


class ProfileError(ValueError):
    """A profile or one of its parameters files is missing or malformed."""


def unknown(kind: str, name: str, known: Sequence[str], known_as: str = "") -> str:
    """The message for a ``name`` that is none of the ``known`` ones: the one it begins, or
    else the closest, if one is close; then all of them (``known_as``, default ``kind`` + s)."""
    begun = [k for k in known if k.startswith(name)]
    close = begun if len(begun) == 1 else difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint} ({known_as or kind + 's'}: {', '.join(known)})"


def profiles(root: Path) -> list[str]:
    """The profiles that have a parameters folder."""
    return sorted(p.name for p in (root / "parameters").iterdir() if p.is_dir())


def check_profile(root: Path, profile: str) -> None:
    """A ``ProfileError`` unless ``profile`` has a parameters folder."""
    known = profiles(root)
    if profile not in known:
        raise ProfileError(unknown("profile", profile, known, "profiles with parameter files"))


def parameter_files(root: Path, profile: str, notebook: str) -> list[Path]:
    """The files that make ``notebook``'s parameters at ``profile``, shared first."""
    check_profile(root, profile)
    folder = root / "parameters" / profile
    own = folder / f"{notebook}.yaml"
    if not own.is_file():
        raise ProfileError(f"profile {profile!r}: missing {own}")
    shared = folder / SHARED
    return [shared, own] if shared.is_file() else [own]


def read_mapping(path: Path) -> dict[str, Any]:
    """The parameters in the YAML file ``path``; a ``ProfileError`` naming the file (and the
    line) if it is not a YAML mapping."""
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}{yaml_problem(err)}") from None
    if not isinstance(params, dict):
        raise ProfileError(f"{path}: expected a mapping of parameter names to values")
    return params


def yaml_problem(err: yaml.YAMLError) -> str:
    """`` line N: not valid YAML (what, and where the construct it is in began)``."""
    mark, problem = getattr(err, "problem_mark", None), getattr(err, "problem", None) or str(err)
    context, begun = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and begun is not None:
        problem = f"{context} from line {begun.line + 1}: {problem}"
    return f"{f' line {mark.line + 1}' if mark is not None else ''}: not valid YAML ({problem})"


def merged(root: Path, profile: str, notebook: str) -> dict[str, Any]:
    """``notebook``'s parameters at ``profile``: the shared file, then its own over it."""
    return merge(parameter_files(root, profile, notebook))


def merge(files: list[Path]) -> dict[str, Any]:
    """The parameters of ``files`` (``parameter_files``), each over those before it."""
    params: dict[str, Any] = {}
    for path in files:
        params.update(read_mapping(path))
    return params
