"""A profile's parameters: ``parameters/<profile>/_shared.yaml`` under each notebook's own file.

The shared file holds the keys every notebook of the profile has in common (data, model, recipe,
seeds, device); a notebook's file adds its own keys and overrides shared ones. Papermill takes both
in order (``-f parameters/<profile>/_shared.yaml -f parameters/<profile>/<notebook>.yaml``);
``merged`` gives the result. Cost: reading two small YAML files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SHARED = "_shared.yaml"


class ProfileError(ValueError):
    """A profile or one of its parameters files is missing or malformed."""


def profiles(root: Path) -> list[str]:
    """The profiles that have a parameters folder."""
    return sorted(p.name for p in (root / "parameters").iterdir() if p.is_dir())


def parameter_files(root: Path, profile: str, notebook: str) -> list[Path]:
    """The files that make ``notebook``'s parameters at ``profile``, shared first."""
    folder = root / "parameters" / profile
    own = folder / f"{notebook}.yaml"
    if not own.is_file():
        raise ProfileError(f"profile {profile!r}: missing {own} (profiles with parameter files: "
                           f"{', '.join(profiles(root))})")
    shared = folder / SHARED
    return [shared, own] if shared.is_file() else [own]


def read_mapping(path: Path) -> dict[str, Any]:
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise ProfileError(f"{path}: expected a mapping of parameter names to values")
    return params


def merged(root: Path, profile: str, notebook: str) -> dict[str, Any]:
    """``notebook``'s parameters at ``profile``: the shared file, then its own over it."""
    params: dict[str, Any] = {}
    for path in parameter_files(root, profile, notebook):
        params.update(read_mapping(path))
    return params
