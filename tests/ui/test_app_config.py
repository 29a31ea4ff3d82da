"""app.py's settings follow gradio's conventions: --host/--port, else GRADIO_SERVER_NAME/PORT, else 127.0.0.1:7860."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.errors import InputError
from explorer.ui.app import launch_kwargs
from explorer.ui.settings import parse_args

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_bind_this_machine_only(demo):
    config = parse_args([], {})
    assert (config.host, config.port, config.share, config.model) == ("127.0.0.1", 7860, False, "sd15")
    settings = launch_kwargs(config, demo)
    assert settings["server_name"] == "127.0.0.1" and settings["server_port"] == 7860


def test_gradio_variables_are_used_when_no_option_is_given(demo):
    config = parse_args([], {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"})
    assert (config.host, config.port) == ("0.0.0.0", 7861)
    settings = launch_kwargs(config, demo)
    assert settings["server_name"] == "0.0.0.0" and settings["server_port"] == 7861
    only_port = parse_args([], {"GRADIO_SERVER_PORT": " 8080 "})
    assert (only_port.host, only_port.port) == ("127.0.0.1", 8080)
    empty = parse_args([], {"GRADIO_SERVER_NAME": "", "GRADIO_SERVER_PORT": ""})   # set but empty: the defaults
    assert (empty.host, empty.port) == ("127.0.0.1", 7860)


def test_options_win_over_the_variables():
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861", "LATENT_EXPLORER_MODEL": "miniworld"}
    config = parse_args(["--host", "localhost", "--port", "9000", "--model", "tiny-random"], env)
    assert (config.host, config.port, config.model) == ("localhost", 9000, "tiny-random")
    assert parse_args([], env).model == "miniworld"


def test_the_process_environment_is_read_by_default(monkeypatch):
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    config = parse_args([])
    assert (config.host, config.port) == ("0.0.0.0", 7999)
    monkeypatch.delenv("GRADIO_SERVER_NAME")
    monkeypatch.delenv("GRADIO_SERVER_PORT")
    assert (parse_args([]).host, parse_args([]).port) == ("127.0.0.1", 7860)


@pytest.mark.parametrize("argv, env, field, received", [
    (["--port", "abc"], {}, "--port", "abc"),
    (["--port", "0"], {}, "--port", "0"),
    (["--port", "65536"], {}, "--port", "65536"),
    (["--port", "-1"], {}, "--port", "-1"),
    (["--port", "80.5"], {}, "--port", "80.5"),
    ([], {"GRADIO_SERVER_PORT": "http"}, "GRADIO_SERVER_PORT", "http"),
    ([], {"GRADIO_SERVER_PORT": "70000"}, "GRADIO_SERVER_PORT", "70000"),
    (["--port", "x"], {"GRADIO_SERVER_PORT": "7861"}, "--port", "x"),    # the option is the one checked
    (["--host", " "], {}, "--host", " "),
    (["--max-archive-images", "0"], {}, "--max-archive-images", 0),
    (["--max-archive-images", "10000001"], {}, "--max-archive-images", 10000001),
])
def test_bad_values_are_named(argv, env, field, received):
    with pytest.raises(InputError) as caught:
        parse_args(argv, env)
    assert caught.value.field == field and caught.value.received == received
    assert str(caught.value).startswith(f"{field}: expected ")


def test_limits_of_the_port_range():
    assert parse_args(["--port", "1"], {}).port == 1 and parse_args(["--port", "65535"], {}).port == 65535


def test_an_operator_may_allow_larger_archives():
    assert parse_args([], {}).max_archive_images == 100_000
    assert parse_args(["--max-archive-images", "1000000"], {}).max_archive_images == 1_000_000


def test_app_py_reports_a_bad_port_before_loading_a_model():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_SERVER")}
    env.update(GRADIO_SERVER_PORT="seventy", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "GRADIO_SERVER_PORT: expected an integer port in [1, 65535], received 'seventy'" in done.stderr
    assert "Traceback" not in done.stderr


def test_settings_are_read_without_gradio():
    code = ("import sys\nfrom explorer.ui.settings import parse_args\nparse_args([], {})\n"
            "assert 'gradio' not in sys.modules, 'gradio was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_gradio_reload_mode_serves_the_app_and_readme_has_a_spaces_header(tmp_path):
    """`gradio app.py` (reload mode, as developers and Spaces-style hosting run it) serves the page. Slow: a fresh
    process imports everything and builds the app (the process is what is tested)."""
    import shutil
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gradio = shutil.which("gradio", path=str(Path(sys.executable).parent)) or shutil.which("gradio")
    env = {**os.environ, "LATENT_EXPLORER_MODEL": "tiny-random", "GRADIO_SERVER_PORT": str(port),
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([gradio, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, status = time.monotonic() + 240, None
        while time.monotonic() < deadline and status != 200:
            time.sleep(2)
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status
            except OSError:
                assert server.poll() is None, "gradio app.py exited"
        assert status == 200
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    header = (ROOT / "README.md").read_text(encoding="utf-8").split("---")[1]
    assert "sdk: gradio" in header and "app_file: app.py" in header
