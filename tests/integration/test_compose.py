"""docker-compose.yml and the Dockerfile agree with the CLI and the settings.

Docker does not run on our machines, so these files are checked by reading them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli import build_parser
from ledger.settings import SETTING_NAMES, parse_database_url

ROOT = Path(__file__).resolve().parents[2]
SUBSTITUTION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def expand(value: str) -> str:
    """Compose's ${VAR:-default}, taking the default (no variables set)."""
    return SUBSTITUTION.sub(lambda match: match.group(2) or "", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """One entry per instruction: continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [line.strip() for line in joined.splitlines() if line.strip()]


def instruction(lines: list[str], name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in lines if line.split(None, 1)[0].upper() == name]


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: expand(str(value)) for key, value in service["environment"].items()}


def test_compose_has_the_postgres_and_api_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "api"}


def test_postgres_uses_the_official_image_a_named_volume_and_pg_isready(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    volume_name = postgres["volumes"][0].split(":")[0]
    assert volume_name in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_api_is_built_here_and_waits_for_a_healthy_postgres(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_tamaq_variable_in_compose_is_a_known_setting(compose: dict[str, Any]) -> None:
    names = [name for service in compose["services"].values() for name in service.get("environment", {})]
    tamaq_names = {name for name in names if name.startswith("TAMAQ_")}
    assert tamaq_names and tamaq_names <= set(SETTING_NAMES)


def test_api_database_url_points_at_the_postgres_service_with_its_credentials(compose: dict[str, Any]) -> None:
    pg_env = environment(compose["services"]["postgres"])
    store = parse_database_url(environment(compose["services"]["api"])["TAMAQ_DATABASE_URL"])
    assert (store.kind, store.pg_host, store.pg_port) == ("postgres", "postgres", 5432)
    assert (store.pg_user, store.pg_password, store.pg_dbname) == (
        pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"],
    )


def parse_serve(command: list[str]) -> Any:
    assert command[0] == "tamaq"
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    return args


def test_dockerfile_cmd_and_compose_command_are_valid_serve_commands_on_port_8000(
    compose: dict[str, Any], dockerfile: list[str]
) -> None:
    (cmd,) = instruction(dockerfile, "CMD")
    commands = [json.loads(cmd)]
    if "command" in compose["services"]["api"]:
        commands.append(compose["services"]["api"]["command"])
    for command in commands:
        args = parse_serve(command)
        assert (args.host, args.port) == ("0.0.0.0", 8000)


def test_ports_agree_between_expose_compose_and_the_settings(compose: dict[str, Any], dockerfile: list[str]) -> None:
    assert instruction(dockerfile, "EXPOSE") == ["8000"]
    assert compose["services"]["api"]["ports"] == ["8000:8000"]
    api_env = environment(compose["services"]["api"])
    assert api_env.get("TAMAQ_PORT", "8000") == "8000"
    assert api_env["TAMAQ_HOST"] == "0.0.0.0"


def test_dockerfile_installs_the_project_as_a_non_root_user(dockerfile: list[str]) -> None:
    assert instruction(dockerfile, "FROM") == ["python:3.11-slim"]
    assert any("pip install ." in run for run in instruction(dockerfile, "RUN"))
    assert instruction(dockerfile, "USER") and instruction(dockerfile, "USER")[-1] != "root"
    copied = " ".join(instruction(dockerfile, "COPY"))
    for package in ("ledger", "projections", "api", "terminals", "exports", "pyproject.toml", "README.md"):
        assert package in copied
