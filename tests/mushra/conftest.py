"""Fixtures for the MUSHRA tests: reading YAML with the reader webMUSHRA's page uses."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"
# webMUSHRA (github.com/audiolabs/webMUSHRA, checked at 07130f2) loads lib/external/yaml/yaml.min.js: yaml.js 0.3.0
# by Jeremy Faivre, byte for byte the dist/yaml.min.js of the npm package yamljs@0.3.0 (same sha256).
WEBMUSHRA_YAML_SHA256 = "7c383fb99a3718112b2b59f275154c27a899703b4eab6bb7b5626daa5d2875e7"


@pytest.fixture(scope="session")
def webmushra_yaml() -> Callable[[list[Path]], dict[str, dict[str, Any]]]:
    """``parse(paths) -> {str(path): {"ok": value} | {"error": message}}`` with webMUSHRA's own YAML reader in
    node. Skipped without node; an error when the reader is not installed (``make js-deps``)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: cannot run webMUSHRA's YAML reader (apt-get install nodejs npm)")
    bundle = JS_DIR / "node_modules" / "yamljs" / "dist" / "yaml.min.js"
    if not bundle.is_file():
        pytest.fail(f"{bundle} missing: run `make js-deps` (npm ci in {JS_DIR})")
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert digest == WEBMUSHRA_YAML_SHA256, f"{bundle} is not the yaml.min.js webMUSHRA bundles ({digest})"

    def parse(paths: list[Path]) -> dict[str, dict[str, Any]]:
        out = subprocess.run([node, str(JS_DIR / "parse_yaml.js"), *map(str, paths)], capture_output=True,
                             text=True, timeout=60, check=True)
        return json.loads(out.stdout)

    return parse
