"""Reading the package's own YAML data files (regions, access laws, trust spaces) into validated models."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from auditor.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_data(path: Path, model: type[M], what: str) -> M:
    """`path` parsed and validated as `model`; any problem is a ConfigError naming the file and `what` it holds."""
    try:
        return model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: invalid {what}: {exc}") from exc
