"""Project rules: README quick start and .ci/run stay in step; the source avoids banned patterns."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands():
    """The commands in README's quick-start block, one per non-comment line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- quick-start -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md lost its <!-- quick-start --> block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    demo, tests = quick_start_commands()
    assert "pip install torch==2.13.0" in demo and demo.rstrip().endswith("einformer demo")
    assert "pip install torch==2.13.0" in tests and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci, ".ci/run must run exactly the README's test command"
    # a fresh venv, then the CPU torch, then the project: in that order
    assert tests.index("python3 -m venv") < tests.index("pip install torch==2.13.0") < tests.index("pip install -e")


def test_source_avoids_banned_patterns():
    """No ParameterList/ParameterDict, unsafe unpickling, exec, or test/bench imports at run time."""
    banned = re.compile(
        r"ParameterList|ParameterDict|weights_only\s*=\s*False"
        r"|^\s*(import|from)\s+(transformers|pytest|hypothesis)\b|\bexec\(",
        re.M,
    )
    hits = []
    for path in (ROOT / "src" / "einformer").rglob("*.py"):
        for match in banned.finditer(path.read_text(encoding="utf-8")):
            hits.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert not hits, hits


def test_no_parameters_call_inside_forward():
    """self.parameters() in forward breaks nn.DataParallel replicas (the old Transformer-XL port's bug)."""
    hits = []
    for path in (ROOT / "src" / "einformer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "forward":
                for call in ast.walk(node):
                    if isinstance(call, ast.Attribute) and call.attr in ("parameters", "named_parameters"):
                        hits.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not hits, hits
