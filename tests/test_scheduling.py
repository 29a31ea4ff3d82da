"""The README's two test processes share the work as tests/scheduling.py says (pytest-xdist's public scheduler hook,
and the one method its own loadfile scheduler overrides)."""
from __future__ import annotations

import inspect
from types import SimpleNamespace

from tests import scheduling


def test_the_shared_apps_tests_form_one_work_unit_and_other_files_their_own():
    lesson = scheduling.group_of("tests/ui/test_lesson_browser.py::test_every_show_me_lands_on_screen[en-1280x720]")
    classroom = scheduling.group_of("tests/ui/test_classroom_miniworld.py::test_every_main_action_succeeds_on_its_defaults")
    assert lesson == classroom == "app:miniworld_url"
    assert scheduling.group_of("tests/text/test_vectors.py::test_slerp") == "tests/text/test_vectors.py"
    assert scheduling.group_of("tests/ui/test_classroom.py::t") == "tests/ui/test_classroom.py"     # tiny-random
    assert scheduling.group_of("no/such/file.py::test") == "no/such/file.py"


def test_the_shared_app_and_the_slow_files_go_out_first():
    def item(nodeid, slow=False):
        return SimpleNamespace(nodeid=nodeid, get_closest_marker=lambda name: slow and name == "slow")

    items = [item("tests/a_test.py::x"), item("tests/b_test.py::y", slow=True), item("tests/b_test.py::z"),
             item("tests/ui/test_lesson_browser.py::w", slow=True)]
    assert [i.nodeid for i in scheduling.slow_first(items)] == [
        "tests/ui/test_lesson_browser.py::w", "tests/b_test.py::y", "tests/b_test.py::z", "tests/a_test.py::x"]


def test_the_scheduler_rests_on_xdists_hook_and_its_loadfile_override():
    """Fails when a pytest-xdist upgrade renames what tests/scheduling.py relies on."""
    from xdist import newhooks
    from xdist.scheduler import LoadFileScheduling, LoadScopeScheduling

    assert hasattr(newhooks, "pytest_xdist_make_scheduler")
    assert "_split_scope" in vars(LoadFileScheduling)                     # loadfile's own override
    assert "loadscopereorder" in inspect.getsource(LoadScopeScheduling.schedule)
    config = SimpleNamespace(option=SimpleNamespace(loadscopereorder=True),
                             getvalue={"tx": ["popen"] * 2, "numprocesses": 2}.get)
    scheduler = scheduling.make_scheduler(config, log=None)
    assert isinstance(scheduler, LoadScopeScheduling) and not config.option.loadscopereorder
    assert scheduler._split_scope("tests/ui/test_classroom_miniworld.py::t") == "app:miniworld_url"
