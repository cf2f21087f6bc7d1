"""The territory registry (config/territory.yaml, kept by an operator): every node of the city's
network — counties, townships, villages — with its zh-CN and English names, checked at start-up."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.config import load_yaml_config
from shared.territory.code import TerritoryCode, TerritoryLevel

DEFAULT_REGISTRY = Path(__file__).resolve().parents[2] / "config" / "territory.yaml"

Language = Literal["zh-CN", "en"]
NodeName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TerritoryError(ValueError):
    """The registry file is invalid; one line naming the file and the node."""


class TerritoryNode(BaseModel):
    """One node of the network: its code and what people call it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    zh_cn: NodeName = Field(alias="zh-CN")
    en: NodeName

    @field_validator("code", mode="before")
    @classmethod
    def _a_real_node(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("write the code as a quoted string of 12 digits")
        code = TerritoryCode(value)
        if code.skips_a_level:
            raise ValueError(f"{value} skips a level: every segment above the node's own must be non-zero")
        return value

    @property
    def territory(self) -> TerritoryCode:
        return TerritoryCode(self.code)

    @property
    def level(self) -> TerritoryLevel:
        return self.territory.level

    def name(self, language: Language) -> str:
        return self.zh_cn if language == "zh-CN" else self.en

    def __str__(self) -> str:
        return f"{self.code} ({self.zh_cn})"


class TerritoryRegistry(BaseModel):
    """The nodes that exist: one city at the top, each other node under a parent one level up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    nodes: list[TerritoryNode] = Field(min_length=1)
    _by_code: dict[str, TerritoryNode] = PrivateAttr(default_factory=dict)
    _children: dict[str, tuple[TerritoryNode, ...]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _one_tree(self) -> TerritoryRegistry:
        by_code: dict[str, TerritoryNode] = {}
        for node in self.nodes:
            if node.code in by_code:
                raise ValueError(f"node {node}: the code is listed twice")
            by_code[node.code] = node
        cities = [node for node in self.nodes if node.level is TerritoryLevel.city]
        if len(cities) != 1:
            raise ValueError(
                f"the registry has {len(cities)} city nodes; it is one city's network, so exactly one"
            )
        children: dict[str, list[TerritoryNode]] = defaultdict(list)
        for node in self.nodes:
            if node.level is TerritoryLevel.province:
                raise ValueError(f"node {node}: a province is above the city, the top of the network")
            if node is cities[0]:
                continue
            parent = node.territory.parent
            if parent is None or parent.code not in by_code:
                raise ValueError(f"node {node}: its parent {parent} is not in the registry")
            children[parent.code].append(node)
        for parent, siblings in children.items():
            _names_unique(by_code[parent], siblings)
        self._by_code = by_code
        self._children = {code: tuple(nodes) for code, nodes in children.items()}
        return self

    @property
    def city(self) -> TerritoryNode:
        return next(node for node in self.nodes if node.level is TerritoryLevel.city)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def node(self, code: str) -> TerritoryNode:
        """The node of `code`; KeyError when the registry has no such node."""
        return self._by_code[code]

    def chain(self, code: str) -> tuple[TerritoryNode, ...]:
        """The node and its ancestors, up to the city."""
        nodes = [self.node(code)]
        while nodes[-1].level is not TerritoryLevel.city:
            nodes.append(self.node(nodes[-1].territory.parent.code))
        return tuple(nodes)

    def children(self, code: str) -> tuple[TerritoryNode, ...]:
        """The nodes one level below `code`, in the file's order."""
        self.node(code)
        return self._children.get(code, ())


def _names_unique(parent: TerritoryNode, siblings: list[TerritoryNode]) -> None:
    # Two villages of one township with one name could not be told apart on a form or a list.
    for language in ("zh-CN", "en"):
        seen: dict[str, TerritoryNode] = {}
        for node in siblings:
            key = node.name(language).casefold()
            if key in seen:
                raise ValueError(
                    f"node {node}: its {language} name is also that of {seen[key].code}, "
                    f"under the same parent {parent}"
                )
            seen[key] = node


def load_territory(path: Path | None = None) -> TerritoryRegistry:
    """Read and validate the registry; `config/territory.yaml` at the repository root by default."""
    return load_yaml_config(path or DEFAULT_REGISTRY, TerritoryRegistry, TerritoryError)
