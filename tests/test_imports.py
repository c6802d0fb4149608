"""No import cycle between the project's modules, counting imports inside functions too (a lazy import
hides a cycle, it does not remove it)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchestrator", "search_spaces", "trainables")


def module_imports() -> dict[str, set[str]]:
    """module -> the project modules it imports (`from pkg import submodule` counts as the submodule)."""
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, found, counter = {}, {}, [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_cycle_through_a_lazy_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    graph = module_imports()
    assert "orchestrator.report.tables" in graph and "orchestrator.report.nas" in graph["orchestrator.report.tables"]
    assert cycles(graph) == []


# orchestrator's jobs, each a subpackage, and the jobs each may import: commands on top, then one sweep's run, the
# clusters and the reports, MLflow, Pareto fronts, and the records everything reads. The three modules at the top of
# orchestrator (atomic, exits, secrets_masking) serve every job and import none.
MAY_IMPORT = {
    "cli": {"run", "cluster", "report", "tracking", "pareto", "records"},
    "run": {"cluster", "report", "tracking", "pareto", "records"},
    "cluster": {"tracking", "records"},
    "report": {"pareto", "records"},
    "tracking": {"pareto", "records"},
    "pareto": {"records"},
    "records": set(),
}
FOUNDATION = {"atomic", "exits", "secrets_masking"}


def job_of(module: str) -> str | None:
    """orchestrator.run.sweep -> run; a foundation module or the package itself -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "orchestrator" and len(parts) > 1 and parts[1] not in FOUNDATION else None


def wrong_way_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, deps in graph.items():
        if not module.startswith("orchestrator"):
            continue
        here = job_of(module)
        for dep in deps:
            there = job_of(dep)
            if there is None or there == here:
                continue
            if here is None or there not in MAY_IMPORT[here]:
                wrong.append(f"{module} -> {dep}")
    return sorted(wrong)


def test_orchestrator_is_one_subpackage_per_job_each_saying_what_it_does():
    root = ROOT / "orchestrator"
    jobs = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    assert jobs == set(MAY_IMPORT)
    assert {p.stem for p in root.glob("*.py")} == FOUNDATION | {"__init__"}
    for job in jobs:
        doc = ast.get_docstring(ast.parse((root / job / "__init__.py").read_text()))
        assert doc and "\n" not in doc.strip(), job


def test_jobs_import_only_downwards():
    assert wrong_way_imports({"orchestrator.report.tables": {"orchestrator.run.retime"}}) == \
        ["orchestrator.report.tables -> orchestrator.run.retime"]
    assert wrong_way_imports({"orchestrator.exits": {"orchestrator.records.storage"},
                              "orchestrator.run.sweep": {"orchestrator.exits", "orchestrator.report.tables"}}) == \
        ["orchestrator.exits -> orchestrator.records.storage"]
    assert wrong_way_imports(module_imports()) == []
