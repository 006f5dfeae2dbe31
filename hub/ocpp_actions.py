"""Who answers or sends each OCPP action: the table ``pnc-hub ocpp actions`` prints.

Derived from the code, never written by hand:

- station -> hub: the ``@on`` handlers of the version's session class, then the features'
  registrations (``Hub.handle_action``: a feature answers instead of the core;
  ``Hub.handle_data_transfer``: DataTransfer by vendorId/messageId), recorded by letting each
  feature register its handlers on a recorder (``Feature.ocpp_handlers``);
- hub -> station: every place the source builds a request from ``ocpp.v16.call`` or
  ``ocpp.v201.call`` (read with ``ast``: module and function); 2.1 stations get the 2.0.1
  requests (``shared_outgoing``). A site that picks the request
  class by name (``getattr(call201, action)``) sends the actions of its module's ``ACTIONS``;
  so does a camelCase ``send_payload(station, action, ..., version=...)`` (``hub.commands``),
  or it sends the action it names, to the version it names.

The core imports no feature: the caller (the CLI, beside the app factory) passes the features.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IN = "station->hub"
OUT = "hub->station"
VERSIONS = {"ocpp.v16": "1.6", "ocpp.v201": "2.0.1"}


@dataclass(frozen=True, order=True)
class ActionRow:
    version: str
    direction: str
    action: str
    module: str
    handler: str
    note: str = ""


class HandlerRecorder:
    """Stands in for ``Hub`` while a feature registers its OCPP handlers."""

    def __init__(self) -> None:
        self.action_handlers: dict[tuple[str, str], Callable[..., Any]] = {}
        self.data_transfer_handlers: dict[tuple[str, str | None], Callable[..., Any]] = {}

    def handle_action(self, ocpp_version: str, action: str, handler: Callable[..., Any]) -> None:
        self.action_handlers[(ocpp_version, action)] = handler

    def handle_data_transfer(self, vendor_id: str, message_id: str | None,
                             handler: Callable[..., Any]) -> None:
        self.data_transfer_handlers[(vendor_id, message_id)] = handler


def _where(function: Callable[..., Any]) -> tuple[str, str]:
    # A handler made by a factory (``native_handler.<locals>.handle``) is named by its factory.
    qualname = function.__qualname__.split(".<locals>")[0]
    return function.__module__, qualname


def _session_classes() -> dict[str, type]:
    from hub.ocpp_server.session16 import StationSession16
    from hub.ocpp_server.session21 import StationSession21
    from hub.ocpp_server.session201 import StationSession201

    return {"1.6": StationSession16, "2.0.1": StationSession201, "2.1": StationSession21}


def _core_handlers(session_class: type) -> dict[str, Callable[..., Any]]:
    found = {}
    for _, member in inspect.getmembers(session_class, inspect.isfunction):
        action = getattr(member, "_on_action", None)
        if action is not None:
            found[str(action)] = member
    return found


def _split(session_class: type, recorder: HandlerRecorder, action: str) -> bool:
    """Whether the session keeps some calls of a feature-handled ``action`` in the core: asks
    its ``feature_handler`` about a call with an empty payload (no certificate data, ...)."""
    from ocpp.messages import Call

    session = object.__new__(session_class)  # no socket: feature_handler reads hub only
    session.hub = recorder  # type: ignore[attr-defined]
    return session.feature_handler(Call("probe", action, {})) is None


def incoming(recorder: HandlerRecorder) -> Iterator[ActionRow]:
    for version, session_class in _session_classes().items():
        core = _core_handlers(session_class)
        # A 2.1 session takes the features' 2.0.1 handlers (StationSession.service_version).
        shared = getattr(session_class, "service_version", "") or version
        for action, handler in core.items():
            feature = recorder.action_handlers.get((shared, action))
            if feature is None:
                yield ActionRow(version, IN, action, *_where(handler))
                continue
            fallback = ".".join(_where(handler))
            note = (f"some calls stay in the core ({session_class.__name__}.feature_handler); "
                    if _split(session_class, recorder, action) else "") + \
                f"without the feature: {fallback}"
            yield ActionRow(version, IN, action, *_where(feature), note=note)
        for (feature_version, action), feature in recorder.action_handlers.items():
            if feature_version == shared and action not in core:
                yield ActionRow(version, IN, action, *_where(feature))
        for (vendor, message_id), handler in recorder.data_transfer_handlers.items():
            yield ActionRow(version, IN, f"DataTransfer {vendor}/{message_id or '*'}",
                            *_where(handler), note="by vendorId/messageId")


def _call_modules(tree: ast.AST) -> dict[str, list[str]]:
    """Name -> OCPP versions: ``from ocpp.v16 import call [as x]`` and the like, and names
    bound to either (``module = call201 if version == V201 else call16``)."""
    names: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in VERSIONS:
            for alias in node.names:
                if alias.name == "call":
                    names[alias.asname or alias.name] = [VERSIONS[node.module]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.IfExp) and all(
                isinstance(branch, ast.Name) and branch.id in names
                for branch in (node.value.body, node.value.orelse)):
            versions = names[node.value.body.id] + names[node.value.orelse.id]  # type: ignore[union-attr]
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = sorted(set(versions))
    return names


def _module_actions(tree: ast.Module) -> list[str] | dict[str, list[str]]:
    """The module's ``ACTIONS``: a list, or a dict of OCPP version -> list (a module that sends
    some actions to one version only)."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None and any(
                isinstance(t, ast.Name) and t.id == "ACTIONS"
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
            value = ast.literal_eval(node.value)
            if isinstance(value, dict):
                return {str(k): [str(v) for v in vs] for k, vs in value.items()}
            return [str(v) for v in value]
    return []


class _SendSites(ast.NodeVisitor):
    def __init__(self, module: str, tree: ast.Module) -> None:
        self.module = module
        self.calls = _call_modules(tree)
        self.declared = _module_actions(tree)
        self.scope: list[str] = []
        self.rows: list[ActionRow] = []
        self.senders = {"send_payload"}  # and local names bound to it

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped  # noqa: N815

    def _row(self, versions: list[str], action: str, note: str = "") -> None:
        for version in versions:
            self.rows.append(ActionRow(version, OUT, action, self.module,
                                       ".".join(self.scope) or "<module>", note))

    def visit_Attribute(self, node: ast.Attribute) -> None:  # noqa: N802
        if isinstance(node.value, ast.Name) and node.value.id in self.calls \
                and node.attr[:1].isupper():
            self._row(self.calls[node.value.id], node.attr)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:  # noqa: N802
        if isinstance(node.value, ast.Attribute) and node.value.attr == "send_payload":
            self.senders |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        self.generic_visit(node)

    def _payload_send(self, node: ast.Call) -> None:
        """``send_payload(station, action, payload, ..., version=...)``."""
        version = next((k.value for k in node.keywords if k.arg == "version"), None)
        if isinstance(version, ast.Constant) and isinstance(version.value, str):
            versions = [version.value]
        else:  # the caller's variable: every version its module's ACTIONS names
            versions = list(self.declared) if isinstance(self.declared, dict) else []
        action = node.args[1] if len(node.args) > 1 else None
        for v in versions:
            if isinstance(action, ast.Constant) and isinstance(action.value, str):
                self._row([v], action.value)
                continue
            declared = self.declared
            for name in declared.get(v, []) if isinstance(declared, dict) else declared:
                self._row([v], name, note="by name, from ACTIONS")

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else \
            func.id if isinstance(func, ast.Name) else None
        if name in self.senders:
            self._payload_send(node)
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and node.args and \
                isinstance(node.args[0], ast.Name) and node.args[0].id in self.calls:
            versions = self.calls[node.args[0].id]
            declared = self.declared
            for version in versions:
                actions = declared.get(version, []) if isinstance(declared, dict) else declared
                for action in actions:
                    self._row([version], action, note="by name, from ACTIONS")
        self.generic_visit(node)


def outgoing(packages: Iterable[str]) -> Iterator[ActionRow]:
    for package in packages:
        root = Path(importlib.import_module(package).__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            tree = ast.parse(path.read_text(), str(path))
            visitor = _SendSites(".".join(parts), tree)
            visitor.visit(tree)
            yield from visitor.rows


def shared_outgoing(rows: Iterable[ActionRow]) -> Iterator[ActionRow]:
    """The requests a 2.1 station gets: the 2.0.1 ones whose action 2.1 still has (the
    session validates them against the 2.1 schema)."""
    from ocpp.v21.enums import Action as Action21

    known21 = {a.value for a in Action21}
    for row in rows:
        if row.version == "2.0.1" and row.direction == OUT and row.action in known21:
            note = "the 2.0.1 request, checked against the 2.1 schema"
            yield ActionRow("2.1", OUT, row.action, row.module, row.handler,
                            f"{row.note}; {note}" if row.note else note)


def action_table(feature_handlers: Iterable[Callable[[Any], None]],
                 packages: Iterable[str]) -> list[ActionRow]:
    """Every action: ``feature_handlers`` register on a recorder; ``packages`` are scanned for
    the requests they send (the core ``hub`` and the features)."""
    recorder = HandlerRecorder()
    for register in feature_handlers:
        register(recorder)
    rows = set(incoming(recorder)) | set(outgoing(packages))
    rows |= set(shared_outgoing(rows))
    return sorted(rows, key=lambda r: (r.version, r.direction != IN, r.action, r.module,
                                       r.handler))


def render(rows: list[ActionRow]) -> str:
    headers = ["VERSION", "DIRECTION", "ACTION", "MODULE", "HANDLER", "NOTE"]
    cells = [[r.version, r.direction, r.action, r.module, r.handler, r.note] for r in rows]
    widths = [max(len(c) for c in column) for column in zip(headers, *cells, strict=False)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in [headers, *cells])
