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
