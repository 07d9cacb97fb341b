"""`bringup schema` describes the language as people write it: an editor using it shows no error on
a file `bringup validate` accepts, and flags every file validate rejects for its structure.

A JSON Schema sees one file's shape. It cannot see units, what a station's drivers offer, station
limits or references between parts of a file; the corpus files whose only fault is of that kind
are listed in SEMANTIC, each with the reason. Every other corpus file must fail the schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pydantic
import pytest
import yaml
from click.testing import CliRunner

from bringup.cli import main
from bringup.language.procedure import Procedure, normalise
from bringup.language.source import InvalidInput, load_yaml

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "bringup" / "bad_procedures"
GOOD = sorted((ROOT / "procedures").glob("*.yaml")) + [ROOT / "tests" / "bringup" / "good_procedure.yaml"]

# file -> why a JSON Schema cannot see its fault (validation against drivers and station does)
SEMANTIC = {
    "bad_condition.yaml": "units inside an expression (a temperature compared with a current)",
    "bad_expect.yaml": "an expectation's grammar and units (nominal ± tolerance) are parsed, not patterned",
    "bare_number_for_quantity.yaml": "the unit an action's argument needs comes from the driver",
    "beyond_guardrail.yaml": "station limit",
    "sweep_beyond_guardrail.yaml": "station limit, reached by a sweep's values",
    "cycle.yaml": "the phase graph: each 'after' names a phase that exists",
    "unknown_phase.yaml": "a reference to a phase id elsewhere in the file",
    "undefined_parameter.yaml": "a reference to a parameter elsewhere in the file",
    "unknown_role.yaml": "a reference to a role declared under 'requires'",
    "missing_argument.yaml": "an action's parameters come from the driver",
    "unknown_argument.yaml": "an action's parameters come from the driver",
    "unknown_action.yaml": "a driver's actions",
    "reading_used_as_action.yaml": "whether a name is a driver's action or reading",
    "role_not_in_station.yaml": "the station's roles",
    "wrong_kind.yaml": "the kind of driver the station binds",
    "wait_not_time.yaml": "units (a voltage where a time is needed)",
    "wrong_limit_unit.yaml": "units of the reading the limit judges",
    "wrong_unit_argument.yaml": "units of an action's argument",
    # values inside quantity and expression strings, and what files refer to (bringup/check/bounds.py,
    # expr.py, compose.py): a schema sees only a string there
    "absurd_wait.yaml": "a time's magnitude inside a quantity string (over 30 days)",
    "absurd_wait_parameter.yaml": "a parameter's magnitude, reached through a reference",
    "deep_parentheses.yaml": "an expression's nesting, inside its string",
    "division_by_zero.yaml": "an expression's constant value",
    "exp_overflow.yaml": "an expression's constant value",
    "huge_for_each.yaml": "how many times nested loops run, multiplied",
    "huge_sweep.yaml": "how many points a range (from/to/step strings) makes",
    "huge_sweep_axis.yaml": "how many points a range (from/to/step strings) makes",
    "include_absolute_outside.yaml": "where an include resolves on disk",
    "include_itself.yaml": "where an include resolves on disk",
    "include_outside_folder.yaml": "where an include resolves on disk",
    "inf_limit.yaml": "a quantity string's magnitude (inf)",
    "infinite_tolerance.yaml": "an expectation's tolerance, inside its string",
    "long_expression.yaml": "an expression's length, inside its string",
    "monitor_every_nanosecond.yaml": "a time's magnitude inside a quantity string",
    "monitor_every_zero.yaml": "a time's magnitude inside a quantity string",
    "monitor_faster_than_transport.yaml": "a time's magnitude inside a quantity string",
    "nan_limit.yaml": "a quantity string's magnitude (nan)",
    "negative_poll.yaml": "a time's magnitude inside a quantity string",
    "negative_wait.yaml": "a time's magnitude inside a quantity string",
    "signs_in_a_row.yaml": "an expression's nesting, inside its string",
    "soak_every_longer_than_duration.yaml": "two times compared with each other",
    "soak_every_negative.yaml": "a time's magnitude inside a quantity string",
    "soak_every_sub_millisecond.yaml": "a time's magnitude inside a quantity string",
    "soak_every_zero.yaml": "a time's magnitude inside a quantity string",
    "soak_zero_duration.yaml": "a time's magnitude inside a quantity string",
    "zero_poll.yaml": "a time's magnitude inside a quantity string",
    "zero_timeout.yaml": "a time's magnitude inside a quantity string",
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    r = CliRunner().invoke(main, ["schema"])
    assert r.exit_code == 0, r.output
    schema = json.loads(r.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _messages(validator, data) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message[:200]}" for e in validator.iter_errors(data)]


class _Yaml12Loader(yaml.SafeLoader):
    """What yaml-language-server reads (YAML 1.2 core): only true/false are booleans, on/off/yes/no text."""


_Yaml12Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in rs if tag != "tag:yaml.org,2002:bool"]
    for ch, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"),
                                    list("tf"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_every_shipped_procedure_passes_the_schema_as_validate_and_an_editor_read_it(path, validator):
    as_validate_reads = load_yaml(path).data  # YAML 1.1: `off` is a boolean
    assert _messages(validator, as_validate_reads) == []
    as_editor_reads = yaml.load(path.read_text(), Loader=_Yaml12Loader)  # YAML 1.2: `off` is text
    assert _messages(validator, as_editor_reads) == []


def test_every_shipped_procedure_is_valid_to_the_language_too():
    # the schema test above is only worth something if these files are what validate accepts
    for path in GOOD:
        Procedure.model_validate(normalise(load_yaml(path).data))


@pytest.mark.parametrize("path", sorted(p for p in BAD.iterdir() if p.is_file()), ids=lambda p: p.name)
def test_corpus_procedure_fails_the_schema_unless_its_fault_is_semantic(path, validator):
    try:
        data = load_yaml(path, what="procedure").data
    except InvalidInput:
        # not YAML text (binary, not UTF-8, a syntax or duplicate-key error, empty): the reader rejects
        # it before any schema applies, as an editor's YAML parser does
        assert path.name not in SEMANTIC, "the reader rejects it: remove it from SEMANTIC"
        return
    errors = _messages(validator, data)
    if path.name in SEMANTIC:
        assert errors == [], f"{path.name} fails the schema after all: remove it from SEMANTIC ({errors})"
    else:
        assert errors, (f"{path.name} passes the schema, but validate rejects it: make the schema reject it, or if "
                        "a JSON Schema cannot see its fault, list it in SEMANTIC with the reason")


def test_semantic_list_names_files_that_exist():
    assert sorted(n for n in SEMANTIC if not (BAD / n).is_file()) == []


def _model_accepts(data) -> bool:
    try:
        Procedure.model_validate(normalise(data))
    except pydantic.ValidationError:
        return False
    return True


_HEAD = "procedure: x\nrequires: {psu: power_supply, sled: sled}\n"
_PHASE = "phases:\n  - id: p\n    steps:\n"
# each snippet: the forms people write, and the structural mistakes they make
_FORMS = {
    "version as a number": _HEAD + "version: 2\n" + _PHASE + "      - wait: 1 s\n",
    "include as one name": _HEAD + "include: power_on.yaml\n",
    "include as a list": _HEAD + "include: [power_on.yaml, pcie.yaml]\n",
    "empty include, no phases": _HEAD + "include: []\n",
    "after as one name": _HEAD + "phases:\n  - id: a\n    steps: [{wait: 1 s}]\n  - id: b\n    after: a\n"
                                 "    steps: [{wait: 1 s}]\n",
    "monitor during as one name": _HEAD + "monitors:\n  - {read: sled.max_tj, every: 1 s, limit: {high: 95 degC}, "
                                          "during: p}\n" + _PHASE + "      - wait: 1 s\n",
    "parameter as its default": _HEAD + "parameters: {vdd: 0.75 V, soak: {default: 8 h, help: how long}}\n"
                                + _PHASE + "      - wait: 1 s\n",
    "parameter with an unknown key": _HEAD + "parameters: {vdd: {default: 0.75 V, unit: V}}\n" + _PHASE
                                     + "      - wait: 1 s\n",
    "bare action in safe state": _HEAD + "safe_state: [sled.power_off, ' psu.output ']\n" + _PHASE
                                 + "      - wait: 1 s\n",
    "action: first argument": _HEAD + "safe_state:\n  - psu.output: off\n  - psu.output: 'off'\n" + _PHASE
                              + "      - psu.output: on\n",
    "action: arguments": _HEAD + _PHASE + "      - for_each: {c: [1, 2]}\n        steps:\n"
                                          "          - psu.set: {channel: '{c}', voltage: 1 V}\n",
    "shorthand on a step kind": _HEAD + _PHASE + "      - do.x: 1\n",
    "shorthand with two actions": _HEAD + _PHASE + "      - {psu.output: on, sled.power_on: 1}\n",
    "bare text that is no action": _HEAD + _PHASE + "      - power off\n",
    "gate as a word": _HEAD + _PHASE + "      - {measure: sled.max_tj, gate: 'off', limit: {high: 95 degC}}\n"
                                       "      - {measure: sled.max_tj, gate: false}\n",
    "gate as another word": _HEAD + _PHASE + "      - {measure: sled.max_tj, gate: maybe}\n",
    "empty limit": _HEAD + _PHASE + "      - {measure: sled.max_tj, limit: {}}\n",
    "limit and expect": _HEAD + _PHASE + "      - {measure: sled.max_tj, limit: {high: 9 degC}, expect: 1 V ± 3%}\n",
    "two step kinds": _HEAD + _PHASE + "      - {do: psu.output, wait: 1 s}\n",
    "no phases": _HEAD,
    "empty phase": _HEAD + "phases:\n  - id: p\n    steps: []\n",
    "bad phase id": _HEAD + "phases:\n  - id: power on\n    steps: [{wait: 1 s}]\n",
    "quantity as a list": _HEAD + _PHASE + "      - wait: [1 s]\n",
    "retry out of range": _HEAD + _PHASE + "      - {wait: 1 s, retry: 1000}\n",
}


@pytest.mark.parametrize("text", _FORMS.values(), ids=_FORMS.keys())
def test_schema_and_language_agree_on_each_form(text, validator):
    for loader in (yaml.SafeLoader, _Yaml12Loader):  # validate's reading and an editor's
        data = yaml.load(text, Loader=loader)
        if loader is _Yaml12Loader and not _model_accepts(data):
            continue  # text validate never sees (it reads YAML 1.1); the schema may be more tolerant
        assert (_messages(validator, data) == []) == _model_accepts(data), _messages(validator, data)
