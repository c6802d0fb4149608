"""Point 8: every open choice is a config field, and docs/design.md's table gives its true default."""
import json
import re
from pathlib import Path

from trainables.config import FIELDS
from trainables.nas.config import NAS_FIELDS
from trainables.open_choices import OPEN_CHOICES

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"


def documented_defaults() -> dict[str, str]:
    rows = re.findall(r"^\| `(\w+)` \| `?([^|`]+)`?[^|]* \|", DESIGN.read_text(), flags=re.M)
    return dict(rows)


def test_every_open_choice_is_a_field_and_its_documented_default_is_the_real_one():
    schema = {**FIELDS, **NAS_FIELDS}
    documented = documented_defaults()
    for name in OPEN_CHOICES:
        assert name in schema, name
        assert name in documented, f"{name} is missing from the open-choices table of docs/design.md"
        default = schema[name].default
        if isinstance(default, list):
            continue  # a list default is described in words
        cell = documented[name].strip()
        assert cell == ("null" if default is None else json.dumps(default) if not isinstance(default, str)
                        else default), (name, cell, default)
