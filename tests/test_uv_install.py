"""`make` installs with uv from the sources pip is configured with (tools/uv_install.py): uv
reads neither pip.conf nor PIP_* variables, so without this it would miss a local wheel folder
such as the one holding the CPU build of torch."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import PROJECT_ROOT

TOOL = PROJECT_ROOT / "tools" / "uv_install.py"
_spec = importlib.util.spec_from_file_location("uv_install", TOOL)
assert _spec is not None and _spec.loader is not None
uv_install = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(uv_install)

CONFIG = """\
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
global.timeout='60'
install.find-links='/srv/install-wheels'
:env:.find-links='/tmp/env-wheels /tmp/more-wheels'
:env:.default-timeout='180'
"""


def test_the_environment_wins_over_the_install_section_and_that_over_global() -> None:
    settings = uv_install.pip_settings(CONFIG)
    assert settings["find-links"] == "/tmp/env-wheels /tmp/more-wheels"
    assert settings["extra-index-url"] == "file:///opt/pypi/simple file:///opt/pypi-more/simple"
    assert settings["cert"] == "/etc/ssl/certs/ca-certificates.crt"
    no_env = uv_install.pip_settings(CONFIG.replace(":env:.find-links", ":env:.other"))
    assert no_env["find-links"] == "/srv/install-wheels"


def test_every_source_and_constraint_becomes_a_uv_option_with_pips_best_match_rule() -> None:
    args = uv_install.uv_arguments(uv_install.pip_settings(CONFIG))
    pairs = list(zip(args[::2], args[1::2], strict=False))
    assert pairs[0] == ("--index-strategy", "unsafe-best-match")
    assert ("--extra-index-url", "file:///opt/pypi/simple") in pairs
    assert ("--extra-index-url", "file:///opt/pypi-more/simple") in pairs
    assert ("--find-links", "/tmp/env-wheels") in pairs
    assert ("--find-links", "/tmp/more-wheels") in pairs
    assert ("--constraint", "/etc/xdg/pip/constraints.txt") in pairs
    assert "--index-url" not in args and "--no-index" not in args
    # Settings uv has no use for (timeouts) are not passed on.
    assert not any("timeout" in a for a in args)


def test_an_index_url_no_index_and_a_trusted_host_are_passed_on() -> None:
    config = "global.index-url='https://mirror.example/simple'\n" \
             "global.trusted-host='mirror.example'\n:env:.no-index='true'\n"  # fmt: skip
    args = uv_install.uv_arguments(uv_install.pip_settings(config))
    assert args[args.index("--index-url") + 1] == "https://mirror.example/simple"
    assert args[args.index("--allow-insecure-host") + 1] == "mirror.example"
    assert args[-1] == "--no-index"


def test_pips_certificate_bundle_is_uvs_unless_one_is_already_set() -> None:
    settings = {"cert": "/etc/ssl/certs/ca-certificates.crt"}
    assert uv_install.uv_environment(settings, {})["SSL_CERT_FILE"] == settings["cert"]
    assert uv_install.uv_environment(settings, {"SSL_CERT_FILE": "/mine.pem"}) == {
        "SSL_CERT_FILE": "/mine.pem"
    }
    assert "SSL_CERT_FILE" not in uv_install.uv_environment({}, {})


def probe_wheel(folder: Path, version: str) -> Path:
    """A minimal pure-Python wheel, as a local wheel folder would hold."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"emn_uv_probe-{version}-py3-none-any.whl"
    info = f"emn_uv_probe-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("emn_uv_probe/__init__.py", "")
        metadata = f"Metadata-Version: 2.1\nName: emn-uv-probe\nVersion: {version}\n"
        wheel.writestr(f"{info}/METADATA", metadata)
        wheel.writestr(f"{info}/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                       "Tag: py3-none-any\n")  # fmt: skip
        wheel.writestr(f"{info}/RECORD", "")
    return path


def test_uv_finds_a_package_that_only_a_folder_in_pips_find_links_holds(tmp_path: Path) -> None:
    """The real tool and uv, offline: a package in no index, only in the wheel folder that
    PIP_FIND_LINKS names, resolves (a dry run: nothing is installed)."""
    probe_wheel(tmp_path / "wheels", "1.0")
    probe_wheel(tmp_path / "other", "2.0")  # a folder pip is not told about
    env = {**os.environ, "PIP_FIND_LINKS": str(tmp_path / "wheels"), "PIP_NO_INDEX": "1",
           "UV_CACHE_DIR": str(tmp_path / "uv-cache")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(TOOL), "--dry-run", "emn-uv-probe"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "+ emn-uv-probe==1.0" in result.stderr + result.stdout


def test_a_pip_configuration_that_cannot_be_read_stops_the_install_with_pips_error(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "pip.conf"
    broken.write_text("[global\nfind-links = /nowhere\n", encoding="utf-8")
    env = {**os.environ, "PIP_CONFIG_FILE": str(broken)}
    result = subprocess.run(
        [sys.executable, str(TOOL), "--dry-run", "emn-uv-probe"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "could not read pip's configuration" in result.stderr
    assert "Traceback" not in result.stderr
