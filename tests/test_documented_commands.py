"""Every command in README.md and slack/README.md runs on a fresh checkout, end to end.

The fresh checkout is what git ships: tracked files, plus new ones that are not ignored, copied
to a temp dir, so nothing ignored (data/, bench/out/, .venv/, *.egg-info) comes along. Its
`.venv/` is a new virtualenv holding only what pyproject.toml declares. `pip install -e .` runs
for real with --no-deps, and each declared requirement, followed through its own requirements,
is linked in from this repository's .venv rather than downloaded again; the benchmark's extra
(`pip install -e '.[bench]'`) and the `torch==2.13.0` pin are linked the same way. So an import
that the declared dependencies do not bring fails here as it would on a fresh machine, and so
does a file that is not in git.

The commands come from the documents' code blocks, so a new one is tested without editing this
file. Placeholders become real values: a free port for 7860, a turns file, a small dataset, the
fake OpenAI endpoint for `BOT_LLM=openai:MODEL BOT_LLM_BASE_URL=...`, made-up Slack credentials.
Not run: the README's test command (it is what runs this suite) and the full `python -m bench`
(10 minutes; `--quick` is the same code on fewer questions). About 4 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
from fake_openai import serve as fake_openai
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = {"README.md": "bash", "slack/README.md": "sh"}
HEALTHY_WITHIN_S = 180


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every line of every shell block in the documents, comments removed."""
    out = []
    for doc, lang in DOCUMENTS.items():
        text = (REPO / doc).read_text(encoding="utf-8")
        for block in re.finditer(rf"```{lang}\n(.*?)```", text, re.S):
            first_line = text[: block.start()].count("\n") + 2
            for i, line in enumerate(block.group(1).splitlines()):
                command = re.sub(r"\s+#\s.*$", "", line).strip()
                if command:
                    out.append((f"{doc}:{first_line + i}", command))
    return out


def test_documented_commands_are_found():
    commands = [c for _, c in documented_commands()]
    assert any(".venv/bin/pip install -q -e ." in c and "bot serve" in c for c in commands)  # the run command
    assert any("python -m bench --quick" in c for c in commands)
    assert any(c.startswith("export BOT_SLACK_SIGNING_SECRET=") for c in commands)


def test_every_documented_command_runs_on_a_fresh_checkout(tmp_path):
    root = tmp_path / "checkout"
    fresh_checkout(root)
    with fake_openai() as llm:
        session = Session(root, tmp_path, llm_url=f"{llm.url}/v1")
        try:
            for where, command in documented_commands():
                session.run(where, command)
        finally:
            session.stop_server()
    assert not session.failures, "\n\n".join(session.failures)
    assert session.ran >= 15, session.ran


# --- the fresh checkout ------------------------------------------------------------------------


def fresh_checkout(root: Path) -> None:
    """Copy what git would ship (tracked files and new unignored ones, as they are now) to `root`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():  # a tracked file deleted in the working tree is not shipped
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)


class Environment:
    """The checkout's .venv: a new virtualenv into which declared distributions are linked from this one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = root / ".venv" / "bin" / "python"
        self.linked: set[str] = set()

    def create(self) -> None:
        if not self.python.exists():
            # The interpreter this repository's .venv runs on, so the linked compiled packages fit.
            subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(self.root / ".venv")], check=True)
            self.site = Path(
                subprocess.run(
                    [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
            )

    def install_project(self, extras: list[str]) -> None:
        """`pip install -e '.[extras]'`: the project itself for real, its declared requirements linked."""
        project = tomllib.loads((self.root / "pyproject.toml").read_text(encoding="utf-8"))
        for req in project["build-system"]["requires"]:  # pip's isolated build would fetch these
            self.link(Requirement(req))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                self.python,
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "-e",
                self.root,
            ],
            check=True,
            capture_output=True,
        )
        self.link_requirements(project["project"]["name"], project["project"].get("dependencies", []), set(extras), project)

    def link_requirements(self, name: str, reqs: list[str], extras: set[str], project: dict) -> None:
        optional = project["project"].get("optional-dependencies", {})
        wanted = [Requirement(r) for r in reqs] + [Requirement(r) for e in extras for r in optional.get(e, [])]
        for req in wanted:
            if canonicalize_name(req.name) == canonicalize_name(name):  # "virt-qa-bot[st]": another extra of this project
                self.link_requirements(name, [], set(req.extras), project)
            elif self._applies(req, {""}):
                self.link(req)

    def link(self, req: Requirement) -> None:
        """Link a distribution, and what it requires with the requested extras, from this .venv into the checkout's."""
        key = canonicalize_name(req.name) + "[" + ",".join(sorted(req.extras)) + "]"
        if key in self.linked:
            return
        self.linked.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{req} is declared but not installed in {sys.prefix}: run the README's install") from None
        assert req.specifier.contains(dist.version, prereleases=True), f"{req} is declared, {dist.version} is installed"
        for rel in dist.files or []:
            if rel.parts and rel.parts[0] != "..":  # scripts and data outside site-packages are not needed
                self._link_path(Path(dist.locate_file("")), rel.parts)
        for dep in dist.requires or []:
            dep_req = Requirement(dep)
            if self._applies(dep_req, {"", *req.extras}):
                self.link(dep_req)

    def _link_path(self, site: Path, parts: tuple[str, ...]) -> None:
        # Link the largest directory that belongs to one distribution: a package (it has
        # __init__.py) or metadata; namespace directories (google/, opentelemetry/) are made
        # for real and their members linked, so other distributions' members stay out.
        for depth in range(1, len(parts) + 1):
            src, dst = site.joinpath(*parts[:depth]), self.site.joinpath(*parts[:depth])
            whole = depth == len(parts) or (src / "__init__.py").exists() or src.suffix in (".dist-info", ".libs", ".data")
            if whole:
                if not dst.exists() and not dst.is_symlink() and src.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.symlink_to(src)
                return
            if dst.is_symlink():
                return
            dst.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _applies(req: Requirement, extras: set[str]) -> bool:
        return req.marker is None or any(req.marker.evaluate({**default_environment(), "extra": e}) for e in extras)


# --- running the commands ------------------------------------------------------------------------


class Session:
    """Runs documented commands in order, in the checkout, with placeholders filled in; collects failures."""

    def __init__(self, root: Path, tmp: Path, llm_url: str) -> None:
        self.root, self.tmp = root, tmp
        self.venv = Environment(root)
        self.port = _free_port()
        self.env = {k: os.environ[k] for k in ("HOME", "LANG", "TMPDIR") if k in os.environ}
        # As if the checkout's venv were active: slack/README.md says plain `python -m bot serve`.
        self.env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
        self.env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", ANONYMIZED_TELEMETRY="False")
        self.server: subprocess.Popen | None = None
        self.failures: list[str] = []
        self.ran = 0
        (root / "turns.json").write_text(
            json.dumps(
                [
                    {"role": "user", "content": "KVM 属于哪一类虚拟化？"},
                    {"role": "assistant", "content": "KVM 是一型虚拟机监控器。"},
                ]
            ),
            encoding="utf-8",
        )
        core = [
            json.loads(line)
            for line in (root / "evals" / "datasets" / "core.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        picked = [c for c in core if c["kind"] == "compare" and c["lang"] == "zh"][:3]
        (root / "other.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in picked), encoding="utf-8")
        self.substitutions = [
            ("7860", str(self.port)),
            ("/tmp/ev", str(tmp / "ev")),
            ("openai:MODEL", "openai:fake-model"),
            ("BOT_LLM_BASE_URL=...", f"BOT_LLM_BASE_URL={llm_url}"),
            ("BOT_SLACK_SIGNING_SECRET=...", "BOT_SLACK_SIGNING_SECRET=not-a-real-secret"),
            ("xoxb-...", "xoxb-not-a-real-token"),
        ]

    def run(self, where: str, command: str) -> None:
        if "-m pytest" in command:
            return  # the README's test command: that is what is running now
        for old, new in self.substitutions:
            command = command.replace(old, new)
        for step in command.split(" && "):
            if re.fullmatch(r"(\.venv/bin/)?python -m bench", step.strip()):
                return  # the full benchmark: the --quick line runs the same code
            t0 = time.monotonic()
            try:
                self._step(step.strip())
            except (AssertionError, subprocess.SubprocessError, OSError) as exc:
                self.failures.append(f"{where}: `{step}` failed:\n{exc}")
                return
            finally:
                print(f"{time.monotonic() - t0:6.1f} s  {where}: {step}")  # shown by pytest -s, or on failure
            self.ran += 1

    def _step(self, step: str) -> None:
        words = shlex.split(step)
        if words[:3] == ["python3", "-m", "venv"]:
            self.venv.create()
        elif words[0].endswith("bin/pip") and words[1] == "install":
            args = [w for w in words[2:] if w not in ("-q", "--quiet")]
            if args[0] == "-e":
                extras = re.fullmatch(r"\.(?:\[(.*)\])?", args[1]).group(1)
                self.venv.install_project([e.strip() for e in extras.split(",")] if extras else [])
            else:
                for spec in args:
                    self.venv.link(Requirement(spec))
        elif words[0] == "export":
            name, value = words[1].split("=", 1)
            self.env[name] = value
        elif "bot" in words and "serve" in words:
            self._serve(step)
        else:
            self._check(step)

    def _check(self, step: str) -> None:
        proc = subprocess.run(step, shell=True, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}"
        if " ask " in step:
            assert proc.stdout.strip(), "no answer printed"
            if "--json" in step:
                assert json.loads(proc.stdout)["citations"], proc.stdout[:500]
        if step.startswith("curl"):
            assert json.loads(proc.stdout)["text"], proc.stdout[:500]

    def _serve(self, step: str) -> None:
        self.stop_server()
        if "--port" not in step:
            step += f" --port {self.port}"
        log = (self.tmp / "serve.log").open("w")
        # exec: the shell becomes the server, so stopping it stops the server and nothing else.
        self.server = subprocess.Popen(
            f"exec {step}", shell=True, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < HEALTHY_WITHIN_S and self.server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                    health = json.load(r)
                if "BOT_SLACK_SIGNING_SECRET" in self.env:
                    assert health["slack"], health
                if health["ui"] == "loading":  # the API answers; the chat at / follows a few seconds later
                    raise OSError("chat still loading")
                assert health["ui"] == "ready", f"the chat did not start:\n{(self.tmp / 'serve.log').read_text()[-3000:]}"
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=10) as r:
                    assert "gradio" in r.read().decode("utf-8", "replace").lower()
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"not healthy within {HEALTHY_WITHIN_S} s:\n{(self.tmp / 'serve.log').read_text()[-3000:]}")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_inherited_bot_settings(monkeypatch):
    for name in list(os.environ):
        if name.startswith("BOT_"):
            monkeypatch.delenv(name)
