"""Reply sentences from replies.toml, formatted with named fields."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPLIES = HERE / "replies.toml"


class MissingField(KeyError):
    """A reply needs a placeholder the caller did not fill."""


@dataclass(frozen=True)
class Replies:
    texts: Mapping[str, str]  # "section.key" -> template

    @classmethod
    def load(cls, path: Path = REPLIES) -> Replies:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        texts = {}
        for section, table in data.items():
            for key, value in table.items():
                # a trailing newline is the closing """; a leading one is meant (a new line)
                texts[f"{section}.{key}"] = str(value).rstrip("\n")
        return cls(texts)

    def get(self, key: str, **fields: object) -> str:
        """The text of `key` with every placeholder filled; MissingField when one is not."""
        template = self.texts[key]
        try:
            return template.format_map(fields)
        except KeyError as exc:
            raise MissingField(f"{key} needs {exc.args[0]!r}") from None

    def placeholders(self, key: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.texts[key]) if name}
