"""Every API endpoint keeps its name, parameters, defaults and return types (issue 27, item 6).

The miniworld app's full API description (what gradio_client's view_api reads from /gradio_api/info) is compared
with the copy stored in tests/assets/view_api.json, made from main before the tabs moved onto the event layer
(explorer.ui.events). A difference fails with a readable diff. Regenerate the copy only for an API change that is
meant (and say so in the commit):

    HF_HUB_OFFLINE=1 python -m tests.ui.test_view_api > tests/assets/view_api.json
"""
from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

STORED = Path(__file__).resolve().parents[1] / "assets" / "view_api.json"


def api_description(root: Path) -> str:
    """The miniworld app's API description as stable JSON (keys sorted, the machine's folders left out)."""
    from explorer.config import ExplorerConfig
    from explorer.models.loading import load_model
    from explorer.ui.app import build_demo

    config = ExplorerConfig(model="miniworld", outputs_dir=root / "outputs", cache_dir=root / "cache",
                            max_size=256, max_steps=50, max_queued_per_client=0, max_new_sessions_per_minute=0,
                            max_archive_images=10)
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    first = next_block_id()
    demo = build_demo(model, config)
    text = json.dumps(demo.get_api_info(), indent=1, sort_keys=True, ensure_ascii=False, default=str)
    text = re.sub(r'"label": "value_(\d+)"', lambda found: f'"label": "value_{int(found.group(1)) - first}"', text)
    return text.replace(str(root), "<tmp>") + "\n"


def next_block_id() -> int:
    """The id gradio gives the next block it makes (gradio.context.Context.id, a running count in the process). An
    output without a label is named "value_<its id>" in the API: counted from the app's first block, the names do
    not depend on what this process built before (another test's app)."""
    from gradio.context import Context

    return Context.id


def test_the_api_is_the_one_clients_know(tmp_path):
    now = api_description(tmp_path)
    stored = STORED.read_text(encoding="utf-8")
    if now != stored:
        diff = "".join(difflib.unified_diff(stored.splitlines(True), now.splitlines(True), "stored view_api.json",
                                            "the app now", n=2))
        pytest.fail(f"the API changed (endpoints, parameters, defaults or return types):\n{diff}", pytrace=False)


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        sys.stdout.write(api_description(Path(folder)))
