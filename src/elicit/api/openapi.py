"""The OpenAPI 3.1 document of ``/api/v1/``, written by hand so it says exactly what the API does.

Tests check real responses against the schemas here, so the document and the code cannot drift apart.
"""

from __future__ import annotations

from typing import Any

FORMATS = ["csv", "xlsx", "parquet", "sav", "dta"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_COUNT = {"type": ["integer", "null"], "minimum": 0}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Elicit API",
        "version": "1.0.0",
        "description": (
            "Study status and anonymized exports. Every endpoint except this document needs a per-user token: "
            "`Authorization: Bearer <token>` (make one with `elicit token create EMAIL --name NAME`). Admins see "
            "every study; researchers and viewers the studies they are members of. Errors are JSON objects "
            '`{"error": "..."}` with status 400, 401, 403, 404 or 405.'
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/studies": {
            "get": {
                "summary": "Studies visible to the token's user",
                "operationId": "listStudies",
                "responses": {
                    "200": {
                        "description": "The studies, by slug",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/StudyList"}}
                        },
                    },
                    "401": _error("No token, or an unknown or revoked one"),
                },
            }
        },
        "/studies/{slug}": {
            "get": {
                "summary": "A study's status: rounds, invitation and response counts by cohort",
                "description": (
                    "In anonymous studies counts from 1 to k-1 are null and the cohort is flagged `suppressed`; "
                    "when only one count of a cohort would be hidden the next smallest is hidden too."
                ),
                "operationId": "getStudy",
                "parameters": [{"$ref": "#/components/parameters/slug"}],
                "responses": {
                    "200": {
                        "description": "The study's status",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/StudyStatus"}}
                        },
                    },
                    "401": _error("No token, or an unknown or revoked one"),
                    "403": _error("The user is not a member of this study"),
                    "404": _error("No such study"),
                },
            }
        },
        "/studies/{slug}/export": {
            "get": {
                "summary": "The export folder as a zip (anonymized unless identified=true, admins only)",
                "description": (
                    "The zip holds one folder with data.<format>, data.csv, long.csv, codebook.json, "
                    "codebook.html and manifest.json (docs/export.md). Every export is recorded in the audit log."
                ),
                "operationId": "exportStudy",
                "parameters": [
                    {"$ref": "#/components/parameters/slug"},
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": FORMATS, "default": "csv"},
                    },
                    {
                        "name": "k",
                        "in": "query",
                        "required": False,
                        "description": "k of the k-anonymity report (default: the study's threshold)",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {
                        "name": "suppress",
                        "in": "query",
                        "required": False,
                        "description": "blank quasi-identifiers in rows whose class has fewer than k respondents",
                        "schema": {"type": "boolean", "default": False},
                    },
                    {
                        "name": "identified",
                        "in": "query",
                        "required": False,
                        "description": "include direct identifiers and roster fields (admins only; audited)",
                        "schema": {"type": "boolean", "default": False},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A zip file (Content-Disposition: attachment)",
                        "headers": {
                            "Content-Disposition": {
                                "schema": {"type": "string"},
                                "description": "attachment; filename=...",
                            }
                        },
                        "content": {
                            "application/zip": {
                                "schema": {"type": "string", "contentMediaType": "application/zip"}
                            }
                        },
                    },
                    "400": _error("Unknown format, or a bad k or flag"),
                    "401": _error("No token, or an unknown or revoked one"),
                    "403": _error("Not a member of this study, or an identified export by a non-admin"),
                    "404": _error("No such study"),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "parameters": {
            "slug": {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
                "additionalProperties": False,
            },
            "Cohort": {
                "type": "object",
                "required": ["code", "label"],
                "properties": {"code": {"type": "string"}, "label": {"type": "string"}},
                "additionalProperties": False,
            },
            "StudySummary": {
                "type": "object",
                "required": ["slug", "title", "anonymity", "status", "cohorts"],
                "properties": {
                    "slug": {"type": "string"},
                    "title": {"type": "string"},
                    "anonymity": {"type": "string", "enum": ["anonymous", "pseudonymous"]},
                    "status": {"type": "string", "enum": ["draft", "open", "closed"]},
                    "cohorts": {"type": "array", "items": {"$ref": "#/components/schemas/Cohort"}},
                },
                "additionalProperties": False,
            },
            "StudyList": {
                "type": "object",
                "required": ["studies"],
                "properties": {
                    "studies": {"type": "array", "items": {"$ref": "#/components/schemas/StudySummary"}}
                },
                "additionalProperties": False,
            },
            "InvitationCounts": {
                "type": "object",
                "required": ["not_opened", "in_progress", "submitted", "declined", "revoked"],
                "properties": {
                    "not_opened": _COUNT,
                    "in_progress": _COUNT,
                    "submitted": _COUNT,
                    "declined": _COUNT,
                    "revoked": _COUNT,
                },
                "additionalProperties": False,
            },
            "CohortStatus": {
                "type": "object",
                "required": ["code", "label", "invitations", "submitted_responses", "suppressed"],
                "properties": {
                    "code": {"type": "string"},
                    "label": {"type": "string"},
                    "invitations": {"$ref": "#/components/schemas/InvitationCounts"},
                    "submitted_responses": _COUNT,
                    "suppressed": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
            "Round": {
                "type": "object",
                "required": ["number", "version", "status"],
                "properties": {
                    "number": {"type": "integer", "minimum": 1},
                    "version": {"type": "string", "description": "instrument id@version"},
                    "status": {"type": "string", "enum": ["planned", "open", "closed"]},
                },
                "additionalProperties": False,
            },
            "StudyStatus": {
                "type": "object",
                "required": [
                    "slug",
                    "title",
                    "anonymity",
                    "status",
                    "cohorts",
                    "k",
                    "small_counts_suppressed",
                    "rounds",
                ],
                "properties": {
                    "slug": {"type": "string"},
                    "title": {"type": "string"},
                    "anonymity": {"type": "string", "enum": ["anonymous", "pseudonymous"]},
                    "status": {"type": "string", "enum": ["draft", "open", "closed"]},
                    "k": {"type": "integer", "minimum": 1},
                    "small_counts_suppressed": {"type": "boolean"},
                    "rounds": {"type": "array", "items": {"$ref": "#/components/schemas/Round"}},
                    "cohorts": {"type": "array", "items": {"$ref": "#/components/schemas/CohortStatus"}},
                },
                "additionalProperties": False,
            },
        },
    },
}
