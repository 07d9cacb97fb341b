"""What editors and people are told about the language and the drivers, from the same definitions
validation uses: the pydantic models and the drivers' published actions.

The models describe a procedure *after* its shorthands are expanded (`procedure.normalise`) and
its values coerced (`after: power_on` becomes a list, `version: 2` text). An editor sees the file
as written, so the JSON Schema is generated for the input: every before-validator that widens
what a field takes, the shorthand steps and the models' cross-field rules are put back here.
`tests/bringup/test_schema.py` holds the schema to every shipped and every corpus procedure.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from bringup.language import procedure as lang
from bringup.drivers.options import option_lines
from bringup.language.procedure import ACTION_REF, STEP_KINDS, Limit, MeasureStep, Procedure

_SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"

# YAML 1.1 (PyYAML, what `bringup validate` reads) turns on/off/yes/no into booleans; YAML 1.2
# (yaml-language-server's default) keeps them strings. The language takes either, so must the schema.
_BOOL_WORDS = [w for word in ("true", "false", "on", "off", "yes", "no", "y", "n")
               for w in (word, word.capitalize(), word.upper())]
_BOOL = {"anyOf": [{"type": "boolean"}, {"enum": sorted(set(_BOOL_WORDS)) + [0, 1]}],
         "description": "true/false (on/off, yes/no are read the same)"}

_REF_BODY = ACTION_REF.removeprefix("^").removesuffix("$")
_NOT_A_KIND = "(?!(?:" + "|".join(STEP_KINDS) + r")\.)"


def _shorthand_steps(actions: list[str]) -> list[JsonSchemaValue]:
    """The two shorthand step forms `procedure.normalise` expands into `do` steps."""
    bare: JsonSchemaValue = {"type": "string", "pattern": rf"^\s*{_REF_BODY}\s*$",
                             "description": "shorthand for '- do: role.action'"}
    one: JsonSchemaValue = {"type": "object", "minProperties": 1, "maxProperties": 1,
                            "propertyNames": {"pattern": f"^{_NOT_A_KIND}{_REF_BODY}$"},
                            "description": "shorthand: '- role.action: value' gives the action's first parameter; "
                                           "'- role.action: {name: value}' gives its arguments"}
    if actions:
        bare["examples"] = actions
        one["propertyNames"]["examples"] = actions
    return [bare, one]


def _input_forms() -> dict[Callable[..., Any], Callable[[JsonSchemaValue], JsonSchemaValue]]:
    """Before-validators of the models -> the wider input each one accepts. A validator missing here
    keeps the model's own (narrower) schema, and the schema test then names the file it rejects."""
    forms: dict[Any, Callable[[JsonSchemaValue], JsonSchemaValue]] = {}

    def add(fn: Any, form: Callable[[JsonSchemaValue], JsonSchemaValue]) -> None:
        if fn is not None:
            forms[getattr(fn, "__func__", fn)] = form

    add(getattr(lang, "_listify", None),
        lambda inner: {"anyOf": [{"type": "string", "description": "one name, or a list of names"}, inner]})
    add(getattr(lang, "_parameter", None),
        lambda inner: {"anyOf": [{"not": {"type": "object"}, "description": "the default value, e.g. '0.75 V'"},
                                 inner]})
    add(getattr(Procedure, "_version_text", None), lambda inner: {**inner, "type": ["string", "number"]})
    return forms


_INPUT_FORMS = _input_forms()

# cross-field rules the models check after their fields (model_validator), as JSON Schema
_MODEL_RULES: dict[type, JsonSchemaValue] = {
    Limit: {"anyOf": [{"required": ["low"]}, {"required": ["high"]}]},
    MeasureStep: {"not": {"required": ["limit", "expect"]}},
    Procedure: {"anyOf": [{"required": ["phases"], "properties": {"phases": {"minItems": 1}}},
                          {"required": ["include"], "properties": {"include": {"minItems": 1}}}]},
}


class _AsWritten(GenerateJsonSchema):
    """pydantic's generator, for the procedure as a person writes it rather than as it is stored."""

    actions: list[str] = []

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        inner = super().function_before_schema(schema)
        fn = schema["function"]["function"]
        form = _INPUT_FORMS.get(getattr(fn, "__func__", fn))
        return form(inner) if form else inner

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        out = super().tagged_union_schema(schema)
        if schema["discriminator"] is lang.step_kind:
            out["oneOf"] = out["oneOf"] + _shorthand_steps(self.actions)
        return out

    def bool_schema(self, schema: core_schema.BoolSchema) -> JsonSchemaValue:
        return dict(_BOOL)

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        rule = _MODEL_RULES.get(schema["cls"])
        if rule:
            out.update(rule)
        return out


def _driver_classes() -> dict[str, type]:
    """The built-in drivers (the JSON Schema's driver kinds; installed ones are listed by `bringup drivers`)."""
    from bringup.drivers import BUILTIN, resolve

    return {name: resolve(name) for name in BUILTIN}


def _closed_names(node: Any) -> None:
    """A mapping whose keys must be names (parameters, roles, loop variables) refuses other keys, as
    validation does: pydantic writes the pattern as patternProperties, which lets any other key by."""
    if isinstance(node, dict):
        if "patternProperties" in node and "properties" not in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for v in node.values():
            _closed_names(v)
    elif isinstance(node, list):
        for v in node:
            _closed_names(v)


def procedure_schema(st: Any = None) -> dict[str, Any]:
    """JSON Schema of a procedure file. With a station, `do`/`measure`/`read` offer its role.action names."""
    actions: list[str] = []
    readings: list[str] = []
    if st is not None:
        specs = [(r, n, s) for r, b in st.roles.items() for n, s in b.cls.spec().items()]
        actions = sorted(f"{r}.{n}" for r, n, s in specs if s.kind == "action")
        readings = sorted(f"{r}.{n}" for r, n, s in specs if s.kind == "reading")
    generator = type("_ForStation", (_AsWritten,), {"actions": actions})
    schema = Procedure.model_json_schema(by_alias=True, schema_generator=generator)
    _closed_names(schema)
    schema["$schema"] = _SCHEMA_URL
    schema["title"] = "bringup procedure"
    defs = schema.get("$defs", {})
    if st is not None:
        for model, key, names in (("DoStep", "do", actions), ("MeasureStep", "measure", readings),
                                  ("Monitor", "read", readings)):
            prop = defs.get(model, {}).get("properties", {}).get(key)
            if prop is not None:
                prop["examples"] = names
                prop["description"] = f"{prop.get('description', '')} — on station {st.name}: " + ", ".join(names)
    kinds = sorted({cls.kind for cls in _driver_classes().values()})
    schema["properties"]["requires"]["additionalProperties"] = {"type": "string", "examples": kinds}
    return schema


class NoSuchDriver(LookupError):
    """`bringup drivers NAME` for a name this installation does not ship."""


def _describe(name: str, cls: type) -> list[str]:
    doc = (cls.__doc__ or "").strip()
    lines = [f"{name}  ({cls.kind})  {doc.splitlines()[0] if doc else ''}".rstrip()]
    lines += option_lines(cls)
    for spec in cls.spec().values():
        lines.append(f"  {'do     ' if spec.kind == 'action' else 'measure'} {spec.signature()}")
        if spec.help:
            lines.append(f"          {spec.help.splitlines()[0]}")
    return lines


def describe_drivers(only: str | None = None) -> str:
    """Every driver's actions and readings, the built-in ones and those installed packages publish
    in the `bringup.drivers` entry-point group (each with its distribution); with `only`, one driver.
    Raises NoSuchDriver naming the known ones."""
    from bringup.drivers import BUILTIN, UnknownDriver, installed, known_names, resolve

    if only is None:
        blocks = ["\n".join(_describe(n, c)) for n, c in _driver_classes().items()]
        for name, one in sorted(installed().items()):
            try:
                lines = _describe(name, resolve(name))
            except UnknownDriver as exc:
                lines = [f"{name}  (from {one.origin}, {one.target})", f"  cannot be used: {exc}"]
            else:
                lines.insert(1, f"  from {one.origin} ({one.target})")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    try:
        cls = resolve(only)
    except UnknownDriver as exc:
        known = known_names()
        close = difflib.get_close_matches(only, known, n=1)
        guess = f"did you mean {close[0]}? " if close and "unknown driver" in str(exc) else ""
        raise NoSuchDriver(f"{exc}; {guess}known drivers: {', '.join(known)}") from None
    lines = _describe(only, cls)
    if only not in BUILTIN:
        one = installed()[only]
        lines.insert(1, f"  from {one.origin} ({one.target})")
    return "\n".join(lines)
