"""The room rules of ``docs/architecture.md``, checked by reading the source (never importing it).

Rules, each a function that returns violations for a source tree, so that every rule is
tested twice: once on the real tree and once on a small synthetic tree holding a
violation it must catch (a checker that cannot fail proves nothing).

1. Rooms: ``media`` and ``stir_shaken`` import nothing of ours (each is a lowest room);
   ``carrier`` never imports ``agent``; none of the four runtime packages imports
   ``tests`` or ``bench``. Every import counts: module level, inside functions (lazy),
   under ``if TYPE_CHECKING:`` (a type is a dependency too), relative imports, and
   ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name.
   ``demo`` (the scripted patient phone and the README's demo call) is a room above the
   runtime, like ``tests``: it may import the four packages, none of them imports it.
2. Pure cores import no asyncio, neither themselves (at any level) nor through a module of
   ours that they import (followed transitively along runtime imports; ``TYPE_CHECKING``
   imports are not followed, and the implicit loading of a parent package's
   ``__init__`` is not counted: the rule is about what the core itself depends on).
3. No module of ``carrier/ agent/ media/ stir_shaken/`` is over 500 lines.
4. No function is over 80 lines unless a ``#`` comment directly above its ``def`` (or its
   first decorator) says why, or its docstring does with the words "long because".
6. One owner per table (``docs/architecture.md``, "One owner per table"): SQL that writes
   a table (``INSERT INTO``/``UPDATE``/``DELETE FROM``/``TRUNCATE`` in a string of the
   source) stands only in its owner's modules (``TABLE_OWNERS``); everyone else goes
   through the owner's facade (the records facade for patients, calls, consent, DNC, audit).
7. The console and the patient web page have no SQL of their own (``NO_SQL``): they read
   and act through the records facade, the dialer's store and the live-call registry.
5. No import cycle among the modules of the four packages along runtime imports (module
   level, not ``TYPE_CHECKING``, not lazy ones inside functions): a cycle such as the old
   ``ua <-> call <-> events`` makes the import order matter and the rooms unreadable.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("carrier", "agent", "media", "stir_shaken")
ROOMS = (*PACKAGES, "demo")
OURS = (*ROOMS, "tests", "bench", "config", "deploy")

# room -> top-level names of ours it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "media": frozenset(OURS) - {"media"},
    "stir_shaken": frozenset(OURS) - {"stir_shaken"},
    "carrier": frozenset({"agent", "demo", "tests", "bench", "config", "deploy"}),
    "agent": frozenset({"demo", "tests", "bench", "config", "deploy"}),
    "demo": frozenset({"tests", "bench", "config", "deploy"}),
}

# Pure protocol cores (STYLE.md practice 1): bytes and ``now`` in, events out; no asyncio.
# The modules whose docstrings say "sans-IO" or "pure", as relative-path patterns (fnmatch;
# a pattern that matches nothing yet costs nothing); ``PURE_EXEMPT``: the edges among them.
PURE_CORES: tuple[str, ...] = (
    "carrier/sip/message.py", "carrier/sip/headers.py", "carrier/sip/uri.py",
    "carrier/sip/sdp.py", "carrier/sip/sdp_parse.py", "carrier/sip/digest.py",
    "carrier/sip/transaction*.py", "carrier/sip/dialog*.py", "carrier/sip/ua.py",
    "carrier/sip/ua_config.py", "carrier/sip/ua_inbound.py", "carrier/sip/body.py",
    "carrier/sip/authretry.py", "carrier/sip/framing.py", "carrier/sip/refusal.py",
    "carrier/sip/policy.py",
    # The INVITE session as a table (issue 10: InviteSession and its parts).
    "carrier/sip/session*.py", "carrier/sip/invite_session.py",
    "media/rtp.py", "media/rtcp.py", "media/g711.py", "media/jitter.py", "media/dtmf.py",
    "media/resample.py", "media/stream.py", "media/stats.py", "media/latch.py",
    "media/framing.py", "media/reframe.py",
    "stir_shaken/*.py",
    "agent/workflow/engine.py", "agent/workflow/model.py",
    "agent/speech/endpoint.py", "agent/speech/turns.py",
    "carrier/dialer/gate.py", "carrier/dialer/rules.py", "carrier/dialer/campaign.py",
    "carrier/dialer/throttle.py", "carrier/trunks.py", "carrier/records/chain.py",
)
PURE_EXEMPT: tuple[str, ...] = (
    "stir_shaken/__init__.py",  # the package facade re-exports the edges too
    "stir_shaken/aio.py",  # the asyncio edge of the verifier
    "stir_shaken/x5u_fetch.py",  # fetches certificates over HTTPS
    "stir_shaken/cli.py",  # the operator command
    "stir_shaken/devca.py",  # the development CA serves its certificate over HTTPS
)

# table (fnmatch pattern) -> the modules that alone may write it (fnmatch patterns).
_RECORDS = "carrier/records/*.py"
TABLE_OWNERS: dict[str, tuple[str, ...]] = {
    # key rotation (records/keys.py) re-encrypts the PHI columns in place
    "patients": ("carrier/records/patients.py", "carrier/records/keys.py"),
    "call_*": ("carrier/records/calls.py", "carrier/records/cdr.py", "carrier/records/keys.py",
               "carrier/records/retention.py"),
    "consent_ledger": (_RECORDS,), "audit_log": (_RECORDS,), "chain_heads": (_RECORDS,),
    "dnc_*": ("carrier/records/dnc.py",), "data_keys": ("carrier/records/keys.py",),
    "console_operators": ("carrier/records/operators.py",),
    "console_phi_lookups": ("carrier/records/phi_lookups.py",),
    "dialer_*": ("carrier/dialer/store.py",),
    # the feeds room; its write-back queue is an operation of the durable records outbox
    "feed_*": ("carrier/feeds/*.py", "carrier/records/feed_outbox.py"),
    "sms_messages": ("carrier/sms/*.py",),
    "sched_*": ("agent/*.py",), "conversation_memory": ("agent/*.py",),
    "agent_prescriptions": ("agent/*.py",), "staff_tasks": ("agent/*.py",),
}
_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+"
                    r"([a-z_][a-z0-9_]*)\b")

NO_SQL: tuple[str, ...] = ("carrier/console/*.py", "carrier/webchat/*.py")
_SQL = re.compile(r"\bSELECT\b[\s\S]*\bFROM\s+[a-z_]|\bINSERT\s+INTO\b|\bUPDATE\s+[a-z_]\w*"
                  r"\s+SET\b|\bDELETE\s+FROM\b|\bTRUNCATE\b")

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
WHY_IN_DOCSTRING = "long because"


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name of the module named (``from X import y``: X)
    names: tuple[str, ...]  # what may be a submodule: ``X.y`` for each y, or X itself
    line: int
    type_checking: bool  # under ``if TYPE_CHECKING:``
    lazy: bool  # inside a function


# --- reading a tree --------------------------------------------------------------------------


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the given packages of ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> tuple[str, tuple[str, ...]]:
    """The absolute module an ``ImportFrom`` names, and ``module.name`` for each name."""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    names = tuple(f"{prefix}.{a.name}" if prefix else a.name for a in node.names)
    return prefix, names


def _literal_import(node: ast.Call) -> str | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in {"import_module", "__import__"} or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return None


def imports(module: str, path: Path) -> list[Import]:
    """Every import in a module, with where it sits (function, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def walk(node: ast.AST, lazy: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                            | ast.Lambda)
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    _collect(stmt, lazy, type_checking=True)
                    walk(stmt, lazy, type_checking=True)
                for stmt in child.orelse:
                    _collect(stmt, lazy, type_checking)
                    walk(stmt, lazy, type_checking)
                continue
            _collect(child, lazy, type_checking)
            walk(child, child_lazy, type_checking)

    def _collect(node: ast.AST, lazy: bool, type_checking: bool) -> None:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, (a.name,), line, type_checking, lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            named, names = _resolve(module, path, node)
            found.append(Import(named or names[0], names, line, type_checking, lazy))
        elif isinstance(node, ast.Call) and (literal := _literal_import(node)):
            found.append(Import(literal, (literal,), line, type_checking, lazy))

    walk(tree, lazy=False, type_checking=False)
    return found


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


# --- the rules -------------------------------------------------------------------------------


def room_violations(root: Path) -> list[str]:
    out: list[str] = []
    for module, path in modules(root, ROOMS).items():
        banned = FORBIDDEN[module.split(".")[0]]
        for imp in imports(module, path):
            top = imp.module.split(".")[0]
            if top in banned:
                where = " (lazy)" if imp.lazy else " (TYPE_CHECKING)" if imp.type_checking else ""
                out.append(f"{_rel(root, path)}:{imp.line} imports {imp.module}{where}")
    return sorted(set(out))


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) for p in patterns)


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours that an imported name is (``a.b.C`` -> ``a.b``), if any."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _asyncio_path(start: str, known: dict[str, Path],
                  cache: dict[str, list[Import]]) -> list[str] | None:
    """Breadth-first along runtime imports: the chain from ``start`` to asyncio, or None."""
    parent: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        current = todo.pop(0)
        if current not in cache:
            cache[current] = imports(current, known[current])
        for imp in cache[current]:
            if imp.type_checking and current != start:
                continue
            if imp.module.split(".")[0] == "asyncio":
                chain = [f"{imp.module} (line {imp.line})"]
                node: str | None = current
                while node is not None:
                    chain.append(node)
                    node = parent[node]
                return chain[::-1]
            if imp.type_checking:
                continue
            # ``from pkg import sub`` loads sub (pkg only implicitly); ``from pkg import Name``
            # loads pkg's ``__init__``, a dependency the core chose.
            subs = [n for n in imp.names if n in known and n != imp.module]
            targets = subs if len(subs) == len(imp.names) else [imp.module, *subs]
            for name in targets:
                nxt = _owner(name, known)
                if nxt is not None and nxt not in parent:
                    parent[nxt] = current
                    todo.append(nxt)
    return None


def pure_core_violations(root: Path, cores: tuple[str, ...] = PURE_CORES,
                         exempt: tuple[str, ...] = PURE_EXEMPT) -> list[str]:
    known = modules(root)
    cache: dict[str, list[Import]] = {}
    out = []
    for module, path in known.items():
        rel = _rel(root, path)
        if not _matches(rel, cores) or _matches(rel, exempt):
            continue
        chain = _asyncio_path(module, known, cache)
        if chain is not None:
            out.append(f"{rel} reaches asyncio: {' -> '.join(chain)}")
    return sorted(out)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def module_size_violations(root: Path, limit: int = MAX_MODULE_LINES) -> list[str]:
    return sorted(f"{_rel(root, p)}: {n} lines (limit {limit})"
                  for p in modules(root).values() if (n := _lines(p)) > limit)


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _says_why(fn: ast.FunctionDef | ast.AsyncFunctionDef, source: list[str]) -> bool:
    first = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
    above = source[first - 2].strip() if first >= 2 else ""
    if above.startswith("#"):
        return True
    doc = ast.get_docstring(fn) or ""
    return WHY_IN_DOCSTRING in doc.lower()


def function_size_violations(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    out = []
    for path in modules(root).values():
        text = path.read_text(encoding="utf-8")
        source = text.splitlines()
        for fn in _functions(ast.parse(text, filename=str(path))):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > limit and not _says_why(fn, source):
                out.append(f"{_rel(root, path)}:{fn.lineno} {fn.name}() is {length} lines "
                           f"(limit {limit}; a comment above it or a docstring saying "
                           f"'{WHY_IN_DOCSTRING} ...' says why)")
    return sorted(out)


def _runtime_deps(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    deps: set[str] = set()
    for imp in imports(module, path):
        if imp.type_checking or imp.lazy:
            continue
        subs = [n for n in imp.names if n in known and n != imp.module]
        for name in subs if len(subs) == len(imp.names) else [imp.module, *subs]:
            owner = _owner(name, known)
            if owner is not None and owner != module:
                deps.add(owner)
    return deps


def cycle_violations(root: Path) -> list[str]:
    """Each strongly connected group of modules (Tarjan), as ``a -> b -> a``."""
    known = modules(root)
    graph = {m: sorted(_runtime_deps(m, p, known)) for m, p in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[str] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (~400)
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                out.append(" -> ".join(sorted([v, *group])) + " (import cycle)")

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def table_owner_violations(root: Path) -> list[str]:
    out = []
    for path in modules(root, ROOMS).values():
        rel = _rel(root, path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            for table in _WRITE.findall(node.value):
                owners = next((o for t, o in TABLE_OWNERS.items()
                               if fnmatch.fnmatchcase(table, t)), None)
                if owners is not None and not _matches(rel, owners):
                    out.append(f"{rel}:{node.lineno} writes {table} (owner: {', '.join(owners)})")
    return sorted(set(out))


def no_sql_violations(root: Path, rooms: tuple[str, ...] = NO_SQL) -> list[str]:
    out = []
    for path in modules(root).values():
        rel = _rel(root, path)
        if not _matches(rel, rooms):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and _SQL.search(node.value)):
                out.append(f"{rel}:{node.lineno} has SQL of its own")
    return sorted(set(out))


# --- the real tree ---------------------------------------------------------------------------


def test_the_checker_sees_the_real_tree() -> None:
    """Guards the checks below against passing on an empty walk."""
    found = modules(REPO)
    assert {"carrier.sip.message", "media.rtp", "stir_shaken.verifier",
            "agent.workflow.engine"} <= set(found)
    assert len(found) > 100
    pure = [m for m, p in found.items()
            if _matches(_rel(REPO, p), PURE_CORES) and not _matches(_rel(REPO, p), PURE_EXEMPT)]
    assert len(pure) >= 20, pure


def test_rooms_import_only_downwards() -> None:
    found = room_violations(REPO)
    assert not found, "\n".join(found)


def test_pure_cores_import_no_asyncio() -> None:
    found = pure_core_violations(REPO)
    assert not found, "\n".join(found)


def test_no_module_over_500_lines() -> None:
    found = module_size_violations(REPO)
    assert not found, "\n".join(found)


def test_no_function_over_80_lines_without_a_reason() -> None:
    found = function_size_violations(REPO)
    assert not found, "\n".join(found)


def test_each_table_is_written_only_by_its_owner() -> None:
    found = table_owner_violations(REPO)
    assert not found, "\n".join(found)


def test_console_and_web_page_have_no_sql_of_their_own() -> None:
    found = no_sql_violations(REPO)
    assert not found, "\n".join(found)


def test_no_import_cycle() -> None:
    found = cycle_violations(REPO)
    assert not found, "\n".join(found)


# --- each rule can fail: synthetic trees -----------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_a_clean_tree_has_no_violations(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "demo/phone.py": "from agent.handler import x\nfrom carrier.gateway import y\n",
        "media/rtp.py": "import struct\n",
        "stir_shaken/verifier.py": "from stir_shaken import errors\n",
        "stir_shaken/errors.py": "",
        "carrier/gateway.py": "import asyncio\nfrom media import rtp\nimport stir_shaken\n",
        "agent/handler.py": "from carrier.gateway import x\nfrom media.rtp import y\n",
        "carrier/records/patients.py": 'Q = "UPDATE patients SET state = $2 WHERE id = $1"\n',
        "agent/memory.py": 'Q = "INSERT INTO conversation_memory (id) VALUES ($1)"\n',
    })
    assert room_violations(root) == []
    assert pure_core_violations(root) == []
    assert module_size_violations(root) == []
    assert function_size_violations(root) == []
    assert cycle_violations(root) == []
    assert table_owner_violations(root) == []


@pytest.mark.parametrize(("rel", "text", "expected"), [
    ("media/rtp.py", "import carrier.sip\n", "media/rtp.py:1 imports carrier.sip"),
    ("media/rtp.py", "from stir_shaken import x\n", "media/rtp.py:1 imports stir_shaken"),
    ("stir_shaken/x5u.py", "from media.g711 import G711\n",
     "stir_shaken/x5u.py:1 imports media.g711"),
    ("carrier/app.py", "def f():\n    from agent.handler import handle\n",
     "carrier/app.py:2 imports agent.handler (lazy)"),
    ("carrier/app.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
     "    import agent.runtime\n", "carrier/app.py:3 imports agent.runtime (TYPE_CHECKING)"),
    ("carrier/sip/ua.py", "from ...agent import voice\n", "carrier/sip/ua.py:1 imports agent"),
    ("carrier/app.py", "import importlib\nm = importlib.import_module('agent.runtime')\n",
     "carrier/app.py:2 imports agent.runtime"),
    ("agent/demo.py", "from tests.peers.client import PjsuaPeer\n",
     "agent/demo.py:1 imports tests.peers.client"),
    ("agent/runtime.py", "def f():\n    from demo.phone import PatientPhone\n",
     "agent/runtime.py:2 imports demo.phone (lazy)"),
    ("carrier/app.py", "import demo\n", "carrier/app.py:1 imports demo"),
    ("demo/phone.py", "from tests.peers.client import PjsuaPeer\n",
     "demo/phone.py:1 imports tests.peers.client"),
])
def test_room_violations_are_caught(tmp_path: Path, rel: str, text: str, expected: str) -> None:
    root = _tree(tmp_path, {"carrier/sip/__init__.py": "", rel: text})
    assert expected in room_violations(root)


def test_relative_imports_resolve_inside_the_room(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"media/sub/__init__.py": "from . import a\nfrom .. import rtp\n",
                            "media/sub/a.py": "from ..rtp import Packet\n",
                            "media/rtp.py": ""})
    assert room_violations(root) == []
    (imp,) = imports("media.sub.a", root / "media/sub/a.py")
    assert (imp.module, imp.names) == ("media.rtp", ("media.rtp.Packet",))
    (one, two) = imports("media.sub", root / "media/sub/__init__.py")
    assert (one.module, two.module) == ("media.sub", "media")


@pytest.mark.parametrize(("files", "culprit"), [
    ({"carrier/sip/message.py": "import asyncio\n"}, "carrier/sip/message.py"),
    ({"media/jitter.py": "def f():\n    from asyncio import Queue\n"}, "media/jitter.py"),
    ({"agent/workflow/engine.py": "import asyncio.subprocess\n"}, "agent/workflow/engine.py"),
    ({"carrier/dialer/gate.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
      "    import asyncio\n"}, "carrier/dialer/gate.py"),
    # through a module of ours the core imports, two steps away
    ({"carrier/sip/transaction.py": "from carrier.sip import timers\n",
      "carrier/sip/timers.py": "from carrier.sip.loop import run\n",
      "carrier/sip/loop.py": "import asyncio\n"}, "carrier/sip/transaction.py"),
    ({"stir_shaken/signer.py": "from stir_shaken.aio import verify\n",
      "stir_shaken/aio.py": "import asyncio\n"}, "stir_shaken/signer.py"),
    ({"carrier/sip/dialog_state.py": "import asyncio\n"}, "carrier/sip/dialog_state.py"),
])
def test_asyncio_in_a_pure_core_is_caught(tmp_path: Path, files: dict[str, str],
                                          culprit: str) -> None:
    root = _tree(tmp_path, {"carrier/sip/__init__.py": "", "carrier/dialer/__init__.py": "",
                            "agent/workflow/__init__.py": "", **files})
    assert [v.split(" ")[0] for v in pure_core_violations(root)] == [culprit]


def test_asyncio_in_an_edge_or_behind_type_checking_of_a_dependency_is_allowed(
        tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "carrier/sip/__init__.py": "from carrier.sip.transport import Transport\n",
        "carrier/sip/transport.py": "import asyncio\n",
        "carrier/sip/message.py": "from carrier.sip.uri import URI\n",
        "carrier/sip/uri.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from carrier.sip.transport import Transport\n",
        "stir_shaken/aio.py": "import asyncio\n",
    })
    assert pure_core_violations(root) == []


def test_a_module_over_500_lines_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"carrier/ok.py": "x = 1\n" * 500, "agent/big.py": "x = 1\n" * 501})
    assert module_size_violations(root) == ["agent/big.py: 501 lines (limit 500)"]


def _function(lines: int, above: str = "", doc: str = "") -> str:
    body = [f'    """{doc}"""'] if doc else []
    body += ["    x = 1"] * (lines - 1 - len(body))
    return (above + "\n" if above else "") + "def f():\n" + "\n".join(body) + "\n"


def test_a_long_function_needs_a_reason(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "media/ok.py": _function(80),
        "media/bad.py": "x = 1\n" + _function(81),
        "media/commented.py": _function(81, above="# one table per RFC figure, kept whole"),
        "media/decorated.py": _function(81, above="# kept whole: see RFC 3550 A.1\n@staticmethod"),
        "media/documented.py": _function(81, doc="Long because it is the RFC's table."),
        "media/undocumented.py": _function(81, doc="Does a thing."),
        "media/method.py": "class C:\n" + "\n".join(
            "    " + line for line in _function(90).splitlines()) + "\n",
    })
    found = function_size_violations(root)
    assert [v.split(" ")[0] for v in found] == [
        "media/bad.py:2", "media/method.py:2", "media/undocumented.py:1"]


def test_an_import_cycle_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "carrier/sip/__init__.py": "",
        "carrier/sip/ua.py": "from carrier.sip.call import Call\n",
        "carrier/sip/call.py": "from carrier.sip import events\n",
        "carrier/sip/events.py": "from carrier.sip.ua import UA\n",
        # not cycles: a lazy import and one for the type checker only
        "media/a.py": "import media.b\n",
        "media/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import media.a\n"
                      "def f():\n    import media.a\n",
    })
    assert cycle_violations(root) == [
        "carrier.sip.call -> carrier.sip.events -> carrier.sip.ua (import cycle)"]


@pytest.mark.parametrize(("rel", "text", "expected"), [
    ("carrier/feeds/store.py", 'await conn.execute(\n    "INSERT INTO patients (id) VALUES ($1)",'
     ' pid)\n', "carrier/feeds/store.py:2 writes patients"),
    ("agent/handler.py", 'Q = ("UPDATE  call_records SET outcome = $2"\n     " WHERE id = $1")\n',
     "agent/handler.py:1 writes call_records"),
    ("carrier/dialer/store.py", 'Q = "DELETE FROM sched_appointments WHERE id = $1"\n',
     "carrier/dialer/store.py:1 writes sched_appointments"),
    ("demo/call.py", 'Q = f"TRUNCATE audit_log {x}"\n', "demo/call.py:1 writes audit_log"),
])
def test_a_write_by_another_room_is_caught(tmp_path: Path, rel: str, text: str,
                                           expected: str) -> None:
    root = _tree(tmp_path, {rel: text})
    assert [v.split(" (")[0] for v in table_owner_violations(root)] == [expected]


def test_sql_in_the_console_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "carrier/console/figures.py":
            '_Q = """\nSELECT workflow, count(*) AS n\nFROM call_records\n"""\n',
        "carrier/webchat/app.py": 'Q = "UPDATE sms_messages SET status = $2"\n',
        "carrier/console/login.py": '"""Sign in and out (``DELETE /api/v1/session``)."""\n',
        "carrier/records/calls.py": 'Q = "SELECT * FROM call_records"\n',  # the owner may
    })
    assert no_sql_violations(root) == ["carrier/console/figures.py:1 has SQL of its own",
                                       "carrier/webchat/app.py:1 has SQL of its own"]
