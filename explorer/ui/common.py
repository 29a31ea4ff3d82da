"""The names tabs imported from here before the UI was split by job (issue 27); new code imports from the modules:

    explorer.ui.context     AppContext, View: what the tabs share
    explorer.ui.events      wrap_handler, listen, api_twin, PageEvent, guard, refusal: the one event layer
    explorer.ui.components  Slider, Number, Dropdown, ... with field=: the validating inputs
    explorer.ui.pieces      explain, status_line, result_gallery, generation_settings, words_flag
    explorer.ui.streaming   run_streaming: the thread bridge
    explorer.ui.files       check_upload, served, publish_value: files between page and server

Remove this module when no tab and no other module imports from it.
"""
from explorer.ui.components import (MAX_TEXT_CHARS, Checkbox, Code, Dropdown, File, Image, Number, Radio,  # noqa: F401
                                    Slider, Textbox, _field_name, as_int)
from explorer.ui.context import AppContext, View  # noqa: F401
from explorer.ui.events import api_twin, guard, keep_work, listen, refusal  # noqa: F401
from explorer.ui.files import check_upload, served  # noqa: F401
from explorer.ui.pieces import explain, words_flag  # noqa: F401
from explorer.ui.streaming import run_streaming  # noqa: F401
