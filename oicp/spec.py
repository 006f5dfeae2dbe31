"""The OICP 2.3 CPO OpenAPI (lenient variant) as a validator, for the mock Hubject and tests.

The specification is Hubject's, not part of this product: it is read at run time from
``--specs DIR`` / ``$PNC_HUB_SPECS`` (a folder holding ``oicp-2.3/``), else from
``shared/specs`` beside the working directory or the installed package when present
(``../shared/specs`` in the project's checkouts). Without it every check is skipped
(``load_spec()`` is None), so that a fresh clone still works. YAML is loaded with a resolver
that keeps the key ``on:`` (OpeningTimes) a string: PyYAML's YAML 1.1 default would make it
True. OpenAPI 3.0 ``nullable`` is turned into a JSON Schema ``null`` type, and date-time
formats are checked.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

LENIENT = Path("oicp-2.3") / "cpo-openapi.lenient.yaml"


def find_specs(specs_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder holding ``oicp-2.3/``: ``specs_dir``, else $PNC_HUB_SPECS, else the first
    ``shared/specs`` found in the working directory, the package's folder or their parents."""
    given = specs_dir or os.environ.get("PNC_HUB_SPECS")
    if given:
        return Path(given) if (Path(given) / LENIENT).exists() else None
    for base in (Path.cwd(), Path(__file__).resolve().parent):
        for parent in (base, *base.parents):
            candidate = parent / "shared" / "specs"
            if (candidate / LENIENT).exists():
                return candidate
    return None


_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_BASE):  # type: ignore[misc,valid-type]
    """SafeLoader whose booleans are only true/false (YAML 1.2), not on/off/yes/no."""


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in _BASE.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Yaml12Loader)  # noqa: S506 - a safe loader subclass


def _json_schema(schema: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema draft 4 (nullable -> type [T, "null"])."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _json_schema(value) for key, value in schema.items()
           if key not in ("nullable", "example", "examples", "description", "discriminator")}
    if schema.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) \
                else [*out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


class OicpSpec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._routes: list[tuple[re.Pattern[str], str]] = []
        for template in document["paths"]:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            self._routes.append((re.compile(f"^{pattern}$"), template))

    def template(self, path: str) -> str | None:
        """The spec path (relative to /api/oicp) that ``path`` is an instance of."""
        path = path.split("?")[0]
        if path.startswith("/api/oicp"):
            path = path[len("/api/oicp"):]
        for regexp, template in self._routes:
            if regexp.match(path):
                return template
        return None

    def _validator(self, template: str, which: str) -> jsonschema.Draft4Validator:
        return _validator(id(self), template, which, self)

    def _errors(self, path: str, body: Any, which: str) -> list[str]:
        template = self.template(path)
        if template is None:
            return [f"{path} is not an OICP 2.3 CPO operation"]
        validator = self._validator(template, which)
        return [f"{template} {which}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(body)]

    def request_errors(self, path: str, body: Any) -> list[str]:
        return self._errors(path, body, "request")

    def response_errors(self, path: str, body: Any) -> list[str]:
        return self._errors(path, body, "response")


@functools.cache
def _validator(_spec_id: int, template: str, which: str,
               spec: OicpSpec) -> jsonschema.Draft4Validator:
    post = spec.document["paths"][template]["post"]
    if which == "request":
        schema = post["requestBody"]["content"]["application/json"]["schema"]
    else:
        schema = post["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft4Validator(_json_schema(schema),
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def load_spec(specs_dir: str | os.PathLike[str] | None = None) -> OicpSpec | None:
    """The CPO OpenAPI as a validator, or None when the specification is not there."""
    folder = find_specs(specs_dir)
    return None if folder is None else _load(folder / LENIENT)


@functools.cache
def _load(path: Path) -> OicpSpec:
    return OicpSpec(load_yaml(path))
