"""The OpenAPI 3.1 document of ``/api/v1/``, written by hand so it says exactly what the API does.

Tests check real responses against the schemas here, so the document and the code cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from elicit.formats import FORMATS as EXPORT_FORMATS

FORMATS = list(EXPORT_FORMATS)


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
            "every study; researchers and viewers the studies they are members of (any other study answers "
            "404, as a missing one does). Errors are JSON objects "
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
                "summary": "A study's status: rounds, and the current round's counts by cohort and in all",
                "description": (
                    "The same figures as the study's page in the studio. In anonymous studies counts of responses "
                    "from 1 to k-1 are null, and so is whatever would let one be worked out from the totals "
                    "(complementary suppression: the next smallest cohort, or the total); the cohort is flagged "
                    "`suppressed`."
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
                    "404": _error(
                        "No such study, or one the user is not a member of (the same answer, so a study's "
                        "existence is not revealed)"
                    ),
                },
            }
        },
        "/studies/{slug}/export": {
            "get": {
                "summary": "The export folder as a zip (anonymized unless identified=true, admins only)",
                "description": (
                    "The zip holds one folder with data.<format>, data.csv, long.csv, codebook.json, "
                    "codebook.html and manifest.json (docs/export.md). Every export is recorded in the audit log. "
                    "As in the studio, exports are for admins and the study's researchers, not for viewers. The "
                    "study's k is a floor: a smaller k is refused."
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
                        "description": (
                            "k of the k-anonymity report and of suppression: the study's threshold (the default) "
                            "or more; a smaller k is refused with 409"
                        ),
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
                    "400": _error("Unknown format, a bad flag, or a k out of range"),
                    "409": _error("A k below the study's own k (the study's k is a floor for every export)"),
                    "401": _error("No token, or an unknown or revoked one"),
                    "403": _error(
                        "A member who is a viewer (the studio does not give viewers exports either), or an "
                        "identified export by a non-admin"
                    ),
                    "404": _error("No such study, or one the user is not a member of (the same answer)"),
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
                "description": (
                    "Exact (the studio lists every invitation): live invitations, revoked ones, and either "
                    "`opened` in this round (pseudonymous studies) or `finished` (anonymous studies: confirmed "
                    "finished, answered or declined, in groups of at least k of a cohort at a time)."
                ),
                "required": ["invited", "revoked"],
                "properties": {
                    "invited": {"type": "integer", "minimum": 0},
                    "revoked": {"type": "integer", "minimum": 0},
                    "opened": {"type": "integer", "minimum": 0},
                    "finished": {"type": "integer", "minimum": 0},
                },
                "additionalProperties": False,
            },
            "ResponseCounts": {
                "type": "object",
                "description": (
                    "The current round's responses; null when hidden (anonymous studies: 1 to k-1, or hidden "
                    "so that such a count cannot be worked out from the totals). A pseudonymous expert who "
                    "declines keeps no response: `declined` counts their invitations."
                ),
                "required": ["in_progress", "submitted", "declined"],
                "properties": {"in_progress": _COUNT, "submitted": _COUNT, "declined": _COUNT},
                "additionalProperties": False,
            },
            "Counts": {
                "type": "object",
                "required": ["invitations", "responses", "suppressed"],
                "properties": {
                    "invitations": {"$ref": "#/components/schemas/InvitationCounts"},
                    "responses": {"$ref": "#/components/schemas/ResponseCounts"},
                    "suppressed": {"type": "boolean", "description": "some of these counts are hidden"},
                },
                "additionalProperties": False,
            },
            "CohortStatus": {
                "type": "object",
                "required": ["code", "label", "invitations", "responses", "suppressed"],
                "properties": {
                    "code": {"type": "string"},
                    "label": {"type": "string"},
                    "invitations": {"$ref": "#/components/schemas/InvitationCounts"},
                    "responses": {"$ref": "#/components/schemas/ResponseCounts"},
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
                    "round",
                    "total",
                ],
                "properties": {
                    "slug": {"type": "string"},
                    "title": {"type": "string"},
                    "anonymity": {"type": "string", "enum": ["anonymous", "pseudonymous"]},
                    "status": {"type": "string", "enum": ["draft", "open", "closed"]},
                    "k": {"type": "integer", "minimum": 1},
                    "small_counts_suppressed": {"type": "boolean"},
                    "rounds": {"type": "array", "items": {"$ref": "#/components/schemas/Round"}},
                    "round": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "description": "the round the counts are for: the open one, else the last",
                    },
                    "cohorts": {"type": "array", "items": {"$ref": "#/components/schemas/CohortStatus"}},
                    "total": {"$ref": "#/components/schemas/Counts"},
                },
                "additionalProperties": False,
            },
        },
    },
}
