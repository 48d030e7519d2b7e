"""Edge modifiers: ``a >> Label("on error") >> b`` puts a label on the edge ``a → b``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airlock.sdk.definitions.mixins import DependencyMixin, connect, flatten

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator


class EdgeModifier(DependencyMixin):
    """Not a node: it remembers what was linked to each side and links the two with a label.

    ``a >> Label("x")`` records ``a``; ``Label("x") >> b`` then links ``a >> b`` with the label.
    Either side may be a list, and the sides may come in either order.
    """

    is_edge_modifier = True

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[DependencyMixin] = []
        self._downstream: list[DependencyMixin] = []

    @property
    def roots(self) -> list[AbstractOperator]:
        return [root for node in self._downstream for root in node.roots]

    @property
    def leaves(self) -> list[AbstractOperator]:
        return [leaf for node in self._upstream for leaf in node.leaves]

    def add_upstream_node(self, node: DependencyMixin) -> None:
        self._upstream.append(node)
        for down in self._downstream:
            connect(node, down, self)

    def add_downstream_node(self, node: DependencyMixin) -> None:
        self._downstream.append(node)
        for up in self._upstream:
            connect(up, node, self)

    def set_upstream(self, other: object, edge_modifier: object = None) -> None:
        for node in flatten(other):
            self.add_upstream_node(node)

    def set_downstream(self, other: object, edge_modifier: object = None) -> None:
        for node in flatten(other):
            self.add_downstream_node(node)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


class Label(EdgeModifier):
    """An edge modifier that labels the edges it sits on."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
