"""No code path loads a pickle (or runs code) from a user's file: every call in src/ is checked by its syntax tree.

Refused: torch.load without weights_only=True; pickle.load / loads / Unpickler(...) and their cousins (marshal,
shelve, dill, joblib, pandas.read_pickle); np.load with allow_pickle anything but False; yaml.load / load_all
without a safe loader, yaml.unsafe_load / full_load; eval / exec / compile. The one unpickler allowed is a subclass of
pickle.Unpickler that overrides find_class (the CIFAR-10 reader's, which can only rebuild plain numpy arrays).
The checker is tested on snippets of each kind, so a pattern it stops seeing fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

BANNED = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("cPickle", "load"),
    ("cPickle", "loads"),
    ("marshal", "load"),
    ("marshal", "loads"),
    ("shelve", "open"),
    ("dill", "load"),
    ("dill", "loads"),
    ("joblib", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("yaml", "unsafe_load_all"),
    ("yaml", "full_load_all"),
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.expr | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(source: str, filename: str = "<snippet>") -> list[str]:
    """'file:line: what' for every unsafe loading call in `source`."""
    tree = ast.parse(source, filename)
    found = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {m for m, _ in BANNED}:
            for alias in node.names:
                if (node.module, alias.name) in BANNED:
                    report(node, f"from {node.module} import {alias.name}")
        if isinstance(node, ast.ClassDef):
            bases = {_dotted(b) for b in node.bases}
            if bases & {"pickle.Unpickler", "Unpickler"}:
                methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
                if "find_class" not in methods:
                    report(node, f"class {node.name} unpickles without restricting find_class")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        parts = tuple(name.rsplit(".", 1)) if "." in name else ("", name)
        if parts in BANNED:
            report(node, f"{name}(...)")
        elif name in ("eval", "exec", "compile"):
            report(node, f"{name}(...) runs code")
        elif name == "torch.load" and not _is_constant(_keyword(node, "weights_only"), True):
            report(node, "torch.load without weights_only=True")
        elif name in ("np.load", "numpy.load") and not (
            _keyword(node, "allow_pickle") is None or _is_constant(_keyword(node, "allow_pickle"), False)
        ):
            report(node, f"{name} with allow_pickle")
        elif name in ("yaml.load", "yaml.load_all"):
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            if loader is None or _dotted(loader).rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
                report(node, f"{name} without a safe Loader")
    return found


def test_src_loads_no_pickles_and_runs_no_code():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 30  # the package is really there
    found = [hit for p in files for hit in unsafe_calls(p.read_text(encoding="utf-8"), str(p.relative_to(SRC)))]
    assert not found, "unsafe loading in src/:\n" + "\n".join(found)


def test_the_cifar_unpickler_is_the_restricted_one():
    # The one unpickler in src/ is allowed because it restricts find_class; check that it still refuses a global.
    import io
    import pickle

    from glyphgen.data import files

    assert issubclass(files._CifarUnpickler, pickle.Unpickler)
    payload = pickle.dumps(print)  # a reference to a builtin function: the smallest "call something" pickle
    with pytest.raises(files._PickleRefused):
        files._CifarUnpickler(io.BytesIO(payload)).load()


@pytest.mark.parametrize(
    "snippet",
    [
        "torch.load(path)",
        "torch.load(path, weights_only=False)",
        "torch.load(path, map_location='cpu', weights_only=flag)",
        "pickle.load(f)",
        "pickle.loads(data)",
        "pickle.Unpickler(f).load()",
        "from pickle import loads",
        "class U(pickle.Unpickler):\n    pass",
        "np.load(path, allow_pickle=True)",
        "numpy.load(path, allow_pickle=ok)",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.load(text, yaml.FullLoader)",
        "yaml.unsafe_load(text)",
        "eval(user_text)",
        "exec(code)",
        "joblib.load(path)",
        "pd.read_pickle(path)",
    ],
)
def test_checker_flags_each_unsafe_pattern(snippet):
    assert unsafe_calls(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "torch.load(path, map_location='cpu', weights_only=True, mmap=True)",
        "np.load(path, allow_pickle=False)",
        "np.load(path)",
        "yaml.safe_load(text)",
        "yaml.load(text, Loader=yaml.SafeLoader)",
        "model.eval()",
        "class U(pickle.Unpickler):\n    def find_class(self, module, name):\n        raise ValueError(name)",
        "json.loads(text)",
    ],
)
def test_checker_passes_safe_code(snippet):
    assert unsafe_calls(snippet) == [], snippet
