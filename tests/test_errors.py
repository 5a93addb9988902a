"""Every error a user can cause subclasses one ElicitError, so the CLI catches that one class (issue 14)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import elicit
from elicit.errors import ElicitError

# Exceptions that never reach a person as they are: each is caught where it is raised and turned into a page,
# an HTTP status or a field message by its own layer.
INTERNAL = {
    "elicit.responding.flow.LinkError": "the survey view turns it into the link's own page",
    "elicit.responding.flow.IncompleteResponse": "the review page lists what is missing",
    "elicit.responding.flow.AlreadySubmitted": "the survey view shows the thank-you page",
    "elicit.responding.flow.StaleAnswers": "the survey view shows what changed in the other window",
    "elicit.instruments.types.base.FieldError": "a field message on the page (each item type raises it)",
    "elicit.api.ApiError": "the API's JSON error body with its status",
    "elicit.api.tokens.AuthError": "the API's 401",
    "elicit.instruments.expressions.ExpressionError": "an instrument Problem (file:line) of InstrumentError",
    "elicit.instruments.yamlsource.YamlProblem": "an instrument Problem (file:line) of InstrumentError",
    "elicit.config.BadSetting": "click's NoAppException: the CLI prints it as its one error line",
    "elicit.config.NoSecretKey": "click's NoAppException: the CLI prints it as its one error line",
    "elicit.instruments.formats.limesurvey._Untranslatable": "a file:line problem of ImportFailed",
    "elicit.instruments.formats.redcap._LogicError": "a file:row problem of ImportFailed",
    "elicit.instruments.formats.redcap._Untranslatable": "a file:row problem of ImportFailed",
    "elicit.instruments.formats.xlsform._Skip": "a file:row problem of ImportFailed (the row is left out)",
    "elicit.instruments.formats.xpath.XPathError": "a file:row problem of ImportFailed",
    "elicit.survey.conditions._CannotCompile": "the condition stays for the server to judge (shown without JS)",
    "elicit.analysis.given_weights.WeightsError": (
        "elicit.analysis stands alone (no app module, tests/test_layering.py); `elicit analyze` prints its"
        " file:line lines"
    ),
}


def _exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for module_info in pkgutil.walk_packages(elicit.__path__, "elicit."):
        if ".migrations." in module_info.name or module_info.name.endswith(".migrations"):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Exception)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_domain_error_is_an_elicit_error() -> None:
    classes = _exception_classes()
    assert "elicit.studies.StudyError" in classes and "elicit.backup.BackupError" in classes  # the walk works
    strays = sorted(
        name for name, cls in classes.items() if not issubclass(cls, ElicitError) and name not in INTERNAL
    )
    assert not strays, f"make these subclass elicit.errors.ElicitError, or say in INTERNAL why not: {strays}"
    stale = sorted(set(INTERNAL) - set(classes))
    assert not stale, f"INTERNAL names classes that no longer exist: {stale}"
