"""Command-line flags built from the backends' declared Options (certqnn.backends.base).

One flag per distinct CLI flag over all registered backends; a flag's value reaches exactly the
backends that declare it. A flag given for a backend that does not declare it is an error naming
it (never silently ignored). Defaults are the backends' own: a flag left out passes nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from .backends.base import REGISTRY, Backend, declared_options
from .errors import InvalidProblemError


@dataclass
class Flag:
    flag: str                      # e.g. "--time-limit"
    dest: str                      # argparse destination
    fields: dict[str, str]         # backend name -> option field name
    kind: type | None              # bool for on/off switches, else None
    parse: object
    choices: tuple | None
    help: str
    helps: dict[str, list[str]] = dataclasses.field(default_factory=dict)   # help text -> backends with it

    def help_text(self) -> str:
        """The help, or when backends describe the flag differently, each description with its backends."""
        if len(self.helps) <= 1:
            return self.help
        return "; ".join(f"{', '.join(owners)}: {text}" for text, owners in self.helps.items())


def _flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _parser_of(field: dataclasses.Field):
    meta = field.metadata
    if meta.get("parse") is not None:
        return meta["parse"]
    if isinstance(field.default, bool):
        return None
    if isinstance(field.default, (int, float)):
        return type(field.default)
    return str


def collect_flags(backends: dict[str, type[Backend]] | None = None) -> dict[str, Flag]:
    """Flag spec -> Flag, over every backend's CLI-visible options."""
    from .backends import _load_all  # noqa: F401  (registers every backend)

    flags: dict[str, Flag] = {}
    for name, cls in sorted((backends or REGISTRY).items()):
        for field in declared_options(cls.Options).values():
            if not field.metadata.get("cli", True):
                continue
            spec = _flag_of(field)
            if spec not in flags:
                kind = bool if isinstance(field.default, bool) else None
                flags[spec] = Flag(spec, "opt_" + spec.lstrip("-").replace("-", "_"), {}, kind, _parser_of(field),
                                   field.metadata.get("choices"), field.metadata.get("help", ""))
            entry = flags[spec]
            entry.fields[name] = field.name
            entry.helps.setdefault(field.metadata.get("help", ""), []).append(name)
            if entry.choices != field.metadata.get("choices"):
                entry.choices = None          # different backends allow different values: each validates its own
    return flags


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backend options (each applies to the backends named in its help)")
    for flag in collect_flags().values():
        owners = sorted(flag.fields)
        where = "all backends" if len(owners) == len(REGISTRY) else ", ".join(owners)
        defaults = {_default_text(REGISTRY[b], flag.fields[b]) for b in owners}
        default = f"; default {defaults.pop()}" if len(defaults) == 1 else ""
        help_text = f"{flag.help_text()} [{where}{default}]"
        if flag.kind is bool:
            group.add_argument(flag.flag, dest=flag.dest, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        else:
            group.add_argument(flag.flag, dest=flag.dest, type=_typed(flag), default=None, choices=flag.choices,
                               metavar=None if flag.choices else flag.flag.lstrip("-").upper().replace("-", "_"),
                               help=help_text)


def _default_text(cls: type[Backend], field_name: str) -> str:
    value = declared_options(cls.Options)[field_name].default
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else str(value)


def _typed(flag: Flag):
    parse = flag.parse

    def convert(text: str):
        try:
            return parse(text)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text!r} ({exc})") from None   # argparse names the flag

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def given_flags(args) -> dict[str, object]:
    """Flag -> value for every backend flag the user gave on this command line."""
    return {spec: getattr(args, f.dest) for spec, f in collect_flags().items()
            if getattr(args, f.dest, None) is not None}


def backend_options(spec: str, args, all_specs: list[str] | None = None) -> dict:
    """Keyword options for backend `spec` ("name" or "name:engine") from the parsed command line.

    A flag that no backend of this run declares is an error naming the flag; with several
    backends (compare), each receives the flags it declares."""
    from .backends.base import get_backend

    name, _, engine = spec.partition(":")
    cls = type(get_backend(name))
    flags = collect_flags()
    specs = all_specs or [spec]
    given = given_flags(args)
    opts = {}
    for flag_spec, value in given.items():
        owners = flags[flag_spec].fields
        if name in owners:
            opts[owners[name]] = value
        elif not any(s.partition(":")[0] in owners for s in specs):
            raise InvalidProblemError(flag_spec, f"does not apply to backend{'s' if len(specs) > 1 else ''} "
                                                 f"{', '.join(specs)}; it is an option of: {', '.join(sorted(owners))}")
    if engine:
        if "engine" not in declared_options(cls.Options):
            raise InvalidProblemError("backend", f"backend '{name}' has no engines (got {spec!r})")
        if "engine" in opts and opts["engine"] != engine:
            raise InvalidProblemError("--engine", f"conflicts with the engine in --backend {spec!r}")
        opts["engine"] = engine
    return opts


def options_reference() -> str:
    """docs/backends.md: every backend with its options, generated from the declarations
    (tests check that the file in the repo is current: `python -m certqnn.cli_options > docs/backends.md`)."""
    from .backends import _load_all  # noqa: F401

    lines = ["# Backends and their options", "",
             "Generated from the backends' declared options by `python -m certqnn.cli_options > docs/backends.md`;",
             "do not edit by hand. Every option is a keyword of `certqnn.solve(problem, backend, **options)` and,",
             "unless marked *Python only*, a flag of `certqnn solve` / `certqnn compare`. An option a backend does",
             "not declare is an error that names it (exit code 2 on the command line).", ""]
    for name, cls in sorted(REGISTRY.items()):
        exact = " (exact)" if cls.exact else ""
        lines += [f"## `{name}`{exact}", "", cls.description + ".", "",
                  "| option | flag | default | meaning |", "|---|---|---|---|"]
        for field in declared_options(cls.Options).values():
            meta = field.metadata
            flag = f"`{_flag_of(field)}`" if meta.get("cli", True) else "*Python only*"
            choices = " (" + " \\| ".join(meta["choices"]) + ")" if meta.get("choices") else ""
            default = _default_text(cls, field.name)
            meaning = meta.get("help", "").replace("|", "\\|") + choices
            lines.append(f"| `{field.name}` | {flag} | `{default}` | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(options_reference(), end="")
