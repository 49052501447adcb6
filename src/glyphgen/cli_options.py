"""Command-line options generated from config dataclasses, so a field is declared once and appears everywhere.

`dataclass_options(DataConfig)` adds one typer option per field (`stroke_width` -> `--stroke-width`), with the
field's default and its `# comment` as help (choices of `Literal` fields are listed). The decorated command receives
the built, validated dataclass as the keyword argument `name`. Typer has no such feature, hence this small shim.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Literal

import typer

from glyphgen.config import field_docs, from_dict, is_union


def _option_type(hint):
    """Typer-friendly annotation for a dataclass field type (Literal -> str, lists stay lists)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return str, typing.get_args(hint)
    if origin in (list, typing.List):  # noqa: UP006
        return list[typing.get_args(hint)[0]], None
    if is_union(hint):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _option_type(args[0])
    return hint, None


_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT"}


def _metavar(annotation, choices) -> str | None:
    """What an option's value looks like: its choices when few, else its type (never a field name cut short)."""
    if annotation is bool:
        return None
    if choices and len(choices) <= 4:
        return "|".join(map(str, choices))
    if typing.get_origin(annotation) is list:
        return "A,B,..."
    return _METAVARS.get(annotation, "TEXT")


def dataclass_options(
    cls,
    name: str,
    panel: str | None = None,
    exclude: tuple[str, ...] = (),
    given_only: bool = False,
    flags: dict[str, str] | None = None,
):
    """Decorator: expose every field of dataclass `cls` as an option; pass the built config as kwarg `name`.

    given_only: pass a dict of only the options the user typed instead (to layer them over a YAML file).
    flags: option names for fields whose own name another config of the same command already takes
    ({"seed": "--data-seed"})."""
    flags = flags or {}
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name not in exclude]

    def decorate(func):
        sig = inspect.signature(func)
        # Resolve string annotations (from __future__ import annotations) so typer sees real types, e.g. Context.
        resolved = typing.get_type_hints(func) if not hasattr(func, "__signature__") else {}
        params = [
            p.replace(annotation=resolved.get(p.name, p.annotation)) for p in sig.parameters.values() if p.name != name
        ]
        for f in fields:
            annotation, choices = _option_type(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            help_text = docs.get(f.name, "")
            if choices:
                help_text += f" (one of: {', '.join(map(str, choices))})"
            opt_name = flags.get(f.name, "--" + f.name.replace("_", "-"))
            decls = [f"{opt_name}/--no-{opt_name[2:]}"] if annotation is bool else [opt_name]
            metavar = _metavar(annotation, choices)
            option = typer.Option(
                default, *decls, help=help_text, rich_help_panel=panel, show_default=True, metavar=metavar
            )
            params.append(
                inspect.Parameter(
                    f"_{name}__{f.name}", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
                )
            )

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            values = {f.name: kwargs.pop(f"_{name}__{f.name}") for f in fields}
            values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
            if given_only:
                # The command must take a `ctx: typer.Context` parameter; the context knows where each value came from.
                ctx = next(v for v in (*args, *kwargs.values()) if hasattr(v, "get_parameter_source"))
                typed = ("COMMANDLINE", "ENVIRONMENT")
                kwargs[name] = {
                    k: v
                    for k, v in values.items()
                    if getattr(ctx.get_parameter_source(f"_{name}__{k}"), "name", "") in typed
                }
            else:
                kwargs[name] = from_dict(cls, values)
            return func(*args, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=_ordered(params))
        return wrapper

    return decorate


def _ordered(params):
    # Positional parameters first, then keyword-only, as inspect.Signature requires.
    order = {
        inspect.Parameter.POSITIONAL_ONLY: 0,
        inspect.Parameter.POSITIONAL_OR_KEYWORD: 1,
        inspect.Parameter.VAR_POSITIONAL: 2,
        inspect.Parameter.KEYWORD_ONLY: 3,
        inspect.Parameter.VAR_KEYWORD: 4,
    }
    return sorted(params, key=lambda p: order[p.kind])


def sampling_options(func):
    """Decorator: one option per sampling option of any family (`methods/options.py`: --steps, --guidance,
    --temperature, ...), each defaulting to the model's own; the command gets the typed ones as the dict `sampling`.
    The model's family checks them when it samples: an option it does not have is an error listing those it has."""
    from glyphgen.methods.options import FAMILY_OPTIONS

    found: dict[str, tuple] = {}
    for family, cls in FAMILY_OPTIONS.items():
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for f in dataclasses.fields(cls):
            found.setdefault(f.name, (hints[f.name], docs.get(f.name, ""), []))[2].append(family)
    sig = inspect.signature(func)
    resolved = typing.get_type_hints(func)
    params = [p.replace(annotation=resolved.get(p.name, p.annotation)) for p in sig.parameters.values()]
    params = [p for p in params if p.name != "sampling"]
    for name, (hint, doc, families) in found.items():
        annotation, choices = _option_type(hint)
        text = f"{doc} ({', '.join(families)}; default: the model's own)"
        if choices:
            text += f" (one of: {', '.join(map(str, choices))})"
        option = typer.Option(
            None, "--" + name.replace("_", "-"), help=text, rich_help_panel="Sampling", metavar=name.upper()
        )
        params.append(inspect.Parameter(f"_sampling__{name}", inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=annotation | None))  # fmt: skip

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        given = {name: kwargs.pop(f"_sampling__{name}") for name in found}
        kwargs["sampling"] = {k: v for k, v in given.items() if v is not None}
        return func(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=_ordered(params))
    return wrapper


def runtime_options(func):
    """Decorator: `--device` and `--threads` for a command that runs networks (see glyphgen/runtime.py); they are
    applied before the command runs, so every model it loads goes to that device."""
    sig = inspect.signature(func)
    resolved = typing.get_type_hints(func) if not hasattr(func, "__signature__") else {}
    params = [p.replace(annotation=resolved.get(p.name, p.annotation)) for p in sig.parameters.values()]
    params += [
        inspect.Parameter(
            "_runtime__device",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                "auto", "--device", help="Where networks run: auto (CUDA, else MPS, else CPU), cpu, cuda[:N] or mps."
            ),
            annotation=str,
        ),
        inspect.Parameter(
            "_runtime__threads",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(0, "--threads", min=0, help="CPU threads for torch (0 = torch's default)."),
            annotation=int,
        ),
    ]

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from glyphgen import runtime

        runtime.configure(kwargs.pop("_runtime__device"), kwargs.pop("_runtime__threads"))
        return func(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=_ordered(params))
    return wrapper
