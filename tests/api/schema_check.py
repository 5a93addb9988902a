"""A small JSON Schema checker for the subset the OpenAPI document uses (no validator library is installed):
$ref, type (one or a list, with "null"), properties, required, additionalProperties, items, enum, minimum,
maximum. It returns every problem with the path where it is, so a failing test says what drifted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
KNOWN = {
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "description",
    "default",
    "contentMediaType",
}


def resolve(document: Mapping[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def problems(
    document: Mapping[str, Any], schema: Mapping[str, Any], value: Any, path: str = "$"
) -> list[str]:
    """Every way ``value`` does not conform to ``schema`` (an empty list when it does)."""
    unknown = set(schema) - KNOWN
    if unknown:
        return [f"{path}: the checker does not know schema keyword(s) {sorted(unknown)}"]
    if "$ref" in schema:
        return problems(document, resolve(document, schema["$ref"]), value, path)
    found: list[str] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](value) for t in types):
            return [f"{path}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{path}: required property {name!r} is missing")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                found += problems(document, properties[name], item, f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{path}: property {name!r} is not in the schema")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(document, schema["items"], item, f"{path}[{index}]")
    return found


def response_schema(
    document: Mapping[str, Any], path: str, status: int, media: str = "application/json"
) -> Any:
    """The schema the document gives for a GET on ``path`` answering ``status``."""
    responses = document["paths"][path]["get"]["responses"]
    response = responses[str(status)]
    if "$ref" in response:
        response = resolve(document, response["$ref"])
    return response["content"][media]["schema"]
