"""Code a reader takes in at once: no function in the project's packages runs over 60 lines."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 60


def long_functions(root: Path, limit: int = LIMIT) -> list[str]:
    found = []
    for package in ("orchestrator", "trainables", "search_spaces"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                        and node.end_lineno - node.lineno + 1 > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} "
                                 f"({node.end_lineno - node.lineno + 1} lines)")
    return found


def test_the_counter_sees_a_long_function(tmp_path):
    (tmp_path / "orchestrator").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "orchestrator" / "long.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    pass\n")
    assert long_functions(tmp_path) == [f"orchestrator/long.py:1 long ({LIMIT + 1} lines)"]


def test_no_function_over_60_lines():
    assert long_functions(ROOT) == []
