"""The README stays honest: its test command is what CI runs, and every command it names exists."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_ci_runs_exactly_the_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", _readme(), re.S)
    test_cmd = next(b for b in blocks if "pytest" in b and "\n" not in b.strip())
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd.strip() in ci.splitlines()
    assert "python -m evals" in ci


def test_readme_opens_with_two_one_line_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", _readme(), re.S)
    assert "bot serve" in blocks[0] and "\n" not in blocks[0].strip()
    assert "pytest" in blocks[1] and "\n" not in blocks[1].strip()


def test_every_bot_env_variable_is_documented():
    settings_src = (REPO / "bot" / "settings.py").read_text(encoding="utf-8")
    for var in set(re.findall(r'"(BOT_[A-Z_]+)"', settings_src)):
        assert f"`{var}`" in _readme(), var


def test_cli_subcommands_in_readme_exist():
    out = subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    for cmd in ("ask", "serve", "feedback"):
        assert cmd in out.stdout and f"python -m bot {cmd}" in _readme()


def test_the_file_map_names_every_module():
    """Every Python module of the package, the evals and the benchmark has a row in the README's file map
    (by its own path, or by the package folder it is in)."""
    readme = _readme()
    table = readme[readme.index("## How it works, file by file") : readme.index("## Configuration")]
    named = set(re.findall(r"`([\w./{},*<>-]+)`", table))
    missing = []
    for path in sorted([*REPO.glob("bot/**/*.py"), *REPO.glob("evals/*.py"), *REPO.glob("bench/*.py")]):
        rel = path.relative_to(REPO).as_posix()
        if path.name in ("__init__.py", "__main__.py") and path.parent.name in ("bot", "evals", "bench"):
            continue
        folders = {rel.rsplit("/", i)[0] + "/" for i in range(1, rel.count("/") + 1)}
        if rel not in named and not folders & {n for n in named if n.endswith("/") and n.count("/") > 1}:
            missing.append(rel)
    assert missing == []
