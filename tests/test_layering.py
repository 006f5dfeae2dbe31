"""The package layering of DESIGN.md and docs/architecture.md, read from the source with ``ast``.

Every import counts: module level, inside functions, under ``TYPE_CHECKING``. The layers, from
the bottom: ``certs`` (imports nothing of the project), the ``hub`` core, then the features
``pnc``, ``oicp`` and ``sites_api``. A feature imports ``certs``, ``hub.feature_api`` and the
core modules that module declares (``CORE_MODULES``), never another feature. Only the app
factory and the CLI beside it import features. No cycles between packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from hub.feature_api import CORE_MODULES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("certs", "hub", "pnc", "oicp", "sites_api")
FEATURES = ("pnc", "oicp", "sites_api")
# Which project packages each package may import (besides itself).
MAY_IMPORT = {
    "certs": set(),
    "hub": {"certs"},
    "pnc": {"certs", "hub"},
    "oicp": {"certs", "hub"},
    "sites_api": {"certs", "hub"},
}
# The modules of the core that assemble the features (DESIGN.md: the app factory, "with the
# CLI beside it"): hub.app lists them, hub.cli mounts a feature's command lazily.
ASSEMBLERS = {"hub.app", "hub.cli"}

# (importer, imported, why): imports that break the rules today and are meant to go. The list
# may only shrink: a listed import that no longer occurs fails the test, so remove it here.
KNOWN_EXCEPTIONS: list[tuple[str, str, str]] = []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if path.name != "__init__.py":
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path) -> Iterator[str]:
    """Every project module ``name`` imports (``from pkg import mod`` counts as pkg.mod)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, path, node)
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield target


def all_imports() -> set[tuple[str, str]]:
    return {(name, target) for name, path in MODULES.items()
            for target in imports_of(name, path)}


IMPORTS = all_imports()


def _package(module: str) -> str:
    return module.split(".")[0]


def _declared_surface(module: str) -> bool:
    if module == "hub.feature_api":
        return True
    for entry in CORE_MODULES:
        if entry.endswith(".*"):
            if module.startswith(entry[:-1]):
                return True
        elif module == entry:
            return True
    return False


def violations(imports: set[tuple[str, str]]) -> set[tuple[str, str]]:
    found = set()
    for importer, target in imports:
        source, dest = _package(importer), _package(target)
        if source == dest:
            continue
        if dest not in MAY_IMPORT[source] and not (
                dest in FEATURES and importer in ASSEMBLERS):
            found.add((importer, target))
        elif source in FEATURES and dest == "hub" and not _declared_surface(target):
            found.add((importer, target))
    return found


def test_the_parser_sees_what_is_there() -> None:
    # Guards against a test that cannot fail: known imports of each kind are found.
    assert ("hub.app", "pnc") in IMPORTS  # module level
    assert ("hub.cli", "oicp.mock_cli") in IMPORTS  # inside a function
    assert ("oicp.remote", "hub.commands") in IMPORTS  # from hub import commands
    assert ("pnc", "pnc.runtime") in IMPORTS
    assert len(MODULES) > 100


def test_the_layering_rules_catch_what_they_must() -> None:
    # The rules themselves, on made-up imports: each kind of breach is a violation.
    breaches = {("certs.store", "hub.db.models"), ("hub.management", "oicp"),
                ("oicp.evses", "sites_api.models"), ("pnc", "hub.app"), ("pnc", "hub.cli"),
                ("pnc.api", "hub.ocpp_server.endpoint"), ("pnc.api", "hub.context"),
                ("sites_api.reader", "hub.db.migrate")}
    allowed = {("hub.app", "oicp"), ("hub.cli", "pnc.settings"), ("pnc", "certs.store"),
               ("pnc.api", "hub.services.stations"), ("pnc.api", "hub.feature_api"),
               ("sites_api.reader", "hub.db"), ("hub.certificate_store", "certs.store")}
    assert violations(breaches | allowed) == breaches


def test_packages_import_only_the_layers_below_them() -> None:
    known = {(importer, target) for importer, target, _ in KNOWN_EXCEPTIONS}
    unexpected = sorted(violations(IMPORTS) - known)
    assert unexpected == [], "imports that break the layering (see docs/architecture.md)"


def test_known_exceptions_still_occur() -> None:
    gone = [(importer, target) for importer, target, _ in KNOWN_EXCEPTIONS
            if (importer, target) not in IMPORTS]
    assert gone == [], "no longer imported: remove them from KNOWN_EXCEPTIONS"


def test_no_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for importer, target in IMPORTS:
        if _package(importer) != _package(target):
            graph[_package(importer)].add(_package(target))
    # The app factory's feature list is the one edge from the core to the features.
    for feature in FEATURES:
        graph["hub"].discard(feature)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start] - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    cycles = [package for package in PACKAGES if reaches(package, package, set())]
    assert cycles == []


def test_no_import_cycle_through_the_app_factory_or_the_cli() -> None:
    # The cycle issue 23 found (hub.app <-> hub.cli <-> pnc): no feature imports either.
    assert {(i, t) for i, t in IMPORTS
            if _package(i) in FEATURES and t in ASSEMBLERS} == set()
