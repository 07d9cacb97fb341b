"""What editors and people are told about the language and the drivers, from the same definitions
validation uses: the pydantic models and the drivers' published actions."""

from __future__ import annotations

from typing import Any

from .procedure import Procedure

_SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


def _driver_classes() -> dict[str, type]:
    from bringup.drivers import BUILTIN, resolve

    return {name: resolve(name) for name in BUILTIN}


def procedure_schema(st: Any = None) -> dict[str, Any]:
    """JSON Schema of a procedure file. With a station, `do`/`measure`/`read` offer its role.action names."""
    schema = Procedure.model_json_schema(by_alias=True)
    schema["$schema"] = _SCHEMA_URL
    schema["title"] = "bringup procedure"
    defs = schema.get("$defs", {})
    if st is not None:
        actions = sorted(f"{r}.{n}" for r, b in st.roles.items() for n, s in b.cls.spec().items() if s.kind == "action")
        readings = sorted(f"{r}.{n}" for r, b in st.roles.items() for n, s in b.cls.spec().items()
                          if s.kind == "reading")
        for model, key, names in (("DoStep", "do", actions), ("MeasureStep", "measure", readings),
                                  ("Monitor", "read", readings)):
            prop = defs.get(model, {}).get("properties", {}).get(key)
            if prop is not None:
                prop["examples"] = names
                prop["description"] = f"{prop.get('description', '')} — on station {st.name}: " + ", ".join(names)
    kinds: dict[str, list[str]] = {}
    for cls in _driver_classes().values():
        kinds.setdefault(cls.kind, [])
    schema["properties"]["requires"]["additionalProperties"] = {"type": "string", "examples": sorted(kinds)}
    return schema


def describe_drivers(only: str | None = None) -> str:
    lines: list[str] = []
    for name, cls in _driver_classes().items():
        if only and only != name:
            continue
        lines.append(f"{name}  ({cls.kind})  {(cls.__doc__ or '').strip().splitlines()[0] if cls.__doc__ else ''}")
        if cls.option_defaults:
            lines.append("  options: " + ", ".join(f"{k}={v!r}" for k, v in cls.option_defaults.items()))
        for spec in cls.spec().values():
            lines.append(f"  {'do     ' if spec.kind == 'action' else 'measure'} {spec.signature()}")
            if spec.help:
                lines.append(f"          {spec.help.splitlines()[0]}")
        lines.append("")
    if only and not lines:
        return f"no driver named {only!r}"
    return "\n".join(lines).rstrip()
