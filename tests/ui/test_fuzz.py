"""Every endpoint, every parameter, bad values: each call succeeds or names the field, and the server keeps serving.
The endpoints are read from the app's own API description, so a new endpoint is fuzzed too.

Each handler gets the whole table of its parameter kinds' bad values once: the first text, number, checkbox, choice
and file parameter of an endpoint gets every value of its kind's table; every other parameter gets one value that
must be refused (taken from the table in turn, so the classes of bad input spread over the fields). A lesson
chapter's endpoint (/lesson_<id>) runs its view's handler on the view's own fields, so its parameters get one value
each. Every endpoint thus still gets bad input in every parameter, and every refusal must name its field."""
from __future__ import annotations

import itertools
import json
import math
import re
import time

import httpx
import pytest
from gradio.i18n import I18nData
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from explorer.generation.recipe import Recipe
from explorer.ui.i18n import english
from tests.bombs import bomb_png

# a field-naming message: "<field>: expected <allowed>, received <value>"
NAMED = re.compile(r"(^|\n|\s)[\w.\[\] ]{1,40}: expected .+, received ")
SMALL = {"steps": 2, "steps_value": 2, "width": 64, "height": 64, "size": 64, "n": 2, "frames": 2, "batch": 2,
         "levels": 2, "k_value": 3, "points": 2, "method_value": "pca", "seeds_text": "0 1",
         "prompts_text": "a red fox\na cat"}
# one value per class of bad input: missing, another JSON type (number, bool, list, object), out of range, not a
# number as text, a number as text (gradio would coerce it), not a choice, too long, an upload of the wrong kind
BAD = {
    "str": [None, 123, True, ["a"], {}, "x" * 100_000],
    "float": [None, "abc", "1", True, [], math.nan, math.inf, -1e12, 1e12],
    "bool": [None, "yes", 2, []],
    "literal": [None, "bogus", 1, ""],
    # a file parameter: an upload of text named .png, a PNG, bombs below and above PIL's own limit (refused before
    # decoding), and values that are no upload: a number, dicts without a path, a URL, "", a path outside the cache
    "filepath": [None, "text", "png", "bomb", "bigbomb", 5, {}, {"url": "http://example.com/x.png"},
                 "http://example.com/x.png", "", "/etc/hostname", "outside"],
}
# a successful call is fine for these: an empty optional text, no file (gradio's "cleared"), a text file as a list
FINE = {("str", None), ("filepath", None)}
FINE_PER_ENDPOINT = {("/add_vocabulary", "text"), ("/load_recipe", "png"), ("/forward_process", "png")}
LESSON = "/lesson_"          # a chapter's endpoint: its view's handler on its view's fields (explorer.ui.lesson_tab)


def kind(parameter) -> str:
    python = parameter["python_type"]["type"]
    return "literal" if python.startswith("Literal") else python if python in BAD else "str"


def unsendable(value) -> bool:
    """NaN and inf: JSON cannot carry them to the server (the client refuses to send them)."""
    return isinstance(value, float) and not math.isfinite(value)


def refused(endpoint: str, parameter_kind: str, value) -> bool:
    """Whether the server must refuse this value (with a message naming the field)."""
    if isinstance(value, (list, dict)):
        return True
    return (parameter_kind, value) not in FINE and (endpoint, value) not in FINE_PER_ENDPOINT


@pytest.fixture(scope="module")
def files(tmp_path_factory, client):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "words.txt").write_text("a red fox\na cat\nsnow\n", encoding="utf-8")
    (root / "notes.txt").write_text("not an image", encoding="utf-8")
    Image.new("RGB", (12_000, 12_000)).save(root / "bomb.png", optimize=True)       # ~140 KB, 144 M pixels
    bomb_png(root / "bigbomb.png")                                                  # 400 M pixels: above PIL's limit
    image = client.predict("a red fox", "", 3, False, 2, 7.5, 64, 64, "ddim", "approx", api_name="/generate")[0]
    return {"words": root / "words.txt", "text": root / "notes.txt", "bomb": root / "bomb.png",
            "bigbomb": root / "bigbomb.png", "image": image}


def english_label(parameter) -> str:
    """A parameter's label in English (an i18n label arrives as {"__type__": "translation_metadata", "key": ...})."""
    label = parameter.get("label") or ""
    return english(I18nData(label["key"])) if isinstance(label, dict) else str(label)


def good_value(name, parameter, files, recipe_json):
    if name in SMALL:
        return SMALL[name]
    if kind(parameter) == "filepath":
        return handle_file(str(files["words"] if name == "path" and parameter["component"] == "File"
                               and "vocab" in english_label(parameter).lower() else files["image"]))
    if name == "recipe_text":
        return recipe_json
    return parameter["parameter_default"]


UPLOADS = {"text": "text", "png": "image", "bomb": "bomb", "bigbomb": "bigbomb"}       # test file names -> files


def bad_value(value, files):
    """The value as sent: the names of test files become uploads; "outside" a file reference that is no upload (a
    FileData without gradio's meta marker, which gradio_client sends as it is: a path outside the server's cache)."""
    if isinstance(value, str) and value in UPLOADS:
        return handle_file(str(files[UPLOADS[value]]))
    if value == "outside":
        return {"path": str(files["text"]), "orig_name": "notes.txt"}
    return value


def rest(url: str, endpoint: str, data: list) -> tuple[str, object]:
    """A raw REST call as curl makes it (gradio's /call route; gradio_client would fill in missing values):
    ("error", its message) or ("complete", the outputs)."""
    with httpx.Client(timeout=120) as http:
        posted = http.post(f"{url}gradio_api/call{endpoint}", json={"data": data})
        if posted.status_code != 200:
            return "http", posted.text[:200]
        stream = http.get(f"{url}gradio_api/call{endpoint}/{posted.json()['event_id']}").text
    kind = re.findall(r"^event: (\w+)", stream, re.MULTILINE)[-1]
    payload = json.loads(re.findall(r"^data: (.*)$", stream, re.MULTILINE)[-1])
    return kind, payload.get("error") if kind == "error" and isinstance(payload, dict) else payload


def component_ids(config, api) -> dict[str, list]:
    """endpoint -> the input component of each of its parameters (gr.State inputs are not parameters)."""
    states = {c["id"] for c in config["components"] if c.get("type") == "state"}
    inputs = {f"/{d['api_name']}": [i for i in d["inputs"] if i not in states]
              for d in config["dependencies"] if d.get("api_name")}
    ids = {endpoint: inputs[endpoint] for endpoint in api}
    for endpoint, description in api.items():
        assert len(ids[endpoint]) == len(description["parameters"]), endpoint
    return ids


def handlers(api, ids) -> dict[str, str]:
    """endpoint -> the endpoint whose handler it runs: a lesson chapter's is its view's (whose fields it takes)."""
    own = [e for e in api if not e.startswith(LESSON)]
    return {e: next((v for v in own if set(ids[e]) <= set(ids[v])), e) if e.startswith(LESSON) else e for e in api}


@pytest.mark.slow
def test_every_endpoint_names_the_field_of_every_bad_value(app_url, connect, files):
    """Slow (~40 s in CI): every bad value of every parameter of every endpoint is one request to the app."""
    fuzz = connect(app_url)
    api = fuzz.view_api(return_format="dict", print_info=False)["named_endpoints"]
    ids = component_ids(fuzz.config, api)
    handler = handlers(api, ids)
    names = {}                                   # component -> its parameter's name where the view names it
    for endpoint in api:
        if not endpoint.startswith(LESSON):
            for cid, parameter in zip(ids[endpoint], api[endpoint]["parameters"]):
                names.setdefault(cid, parameter["parameter_name"])
    recipe_json = Recipe(model="tiny-random", prompt="a red fox", seed=3, steps=2, width=64, height=64).to_json()
    unclear, accepted, tried, unsendable_count, slow, counted = [], [], 0, 0, [], 0
    covered, turn = set(), itertools.count()
    for endpoint, description in api.items():
        parameters = description["parameters"]
        if not parameters:                                  # /stop and the like: only a value too many
            outcome, text = rest(app_url, endpoint, ["one too many"])
            tried, counted = tried + 1, counted + 1
            if outcome != "error" or f"{endpoint} parameters:" not in str(text) or not NAMED.search(str(text)):
                unclear.append((endpoint, "1 of 0 values", outcome, str(text)[:160]))
            continue
        defaults = [good_value(names.get(cid, p["parameter_name"]), p, files, recipe_json)
                    for cid, p in zip(ids[endpoint], parameters)]
        if endpoint == "/add_vocabulary":
            defaults = [handle_file(str(files["words"])), "fuzz words"]
        for i, parameter in enumerate(parameters):
            what = kind(parameter)
            if (handler[endpoint], what) not in covered:          # this handler's first parameter of this kind
                covered.add((handler[endpoint], what))
                values = BAD[what]
            else:                                                  # one value it must refuse, the table in turn
                candidates = [v for v in BAD[what] if refused(endpoint, what, v) and not unsendable(v)]
                values = [candidates[next(turn) % len(candidates)]]
            for value in values:
                args = list(defaults)
                args[i] = bad_value(value, files)
                tried += 1
                started = time.perf_counter()
                try:
                    fuzz.predict(*args, api_name=endpoint)
                except Exception as error:  # noqa: BLE001 - every refusal must name its field
                    text = str(error)
                    if not isinstance(error, AppError) and "JSON compliant" in text:
                        unsendable_count += 1
                        continue
                    slow.append((time.perf_counter() - started, endpoint, parameter["parameter_name"],
                                 repr(value)[:30]))
                    named = f"{endpoint} {parameter['parameter_name']}:" in text     # a value that is no upload
                    if not NAMED.search(text) or "Something went wrong" in text or len(text) > 600 or (
                            what == "filepath" and value is not None and not named and not (isinstance(value, str) and value in UPLOADS)):
                        unclear.append((endpoint, parameter["parameter_name"], repr(value)[:40], text[:160]))
                    continue
                if refused(endpoint, what, value):
                    accepted.append((endpoint, parameter["parameter_name"], repr(value)[:40]))
        # one call with a value missing (the first `missing` values only) and one with a value too many, as raw REST
        missing = next(turn) % len(parameters)
        for data, named in ((defaults[:missing], f"{endpoint} {parameters[missing]['parameter_name']}:"),
                            ([*defaults, "one too many"], f"{endpoint} parameters:")):
            tried, counted = tried + 1, counted + 1
            outcome, text = rest(app_url, endpoint, data)
            if outcome != "error" or named not in str(text) or not NAMED.search(str(text)):
                unclear.append((endpoint, f"{len(data)} of {len(parameters)} values", outcome, str(text)[:160]))
        assert fuzz.predict("a cat", False, api_name="/tokens")[0], f"the server stopped serving after {endpoint}"
    print(f"{tried} bad values tried ({unsendable_count} NaN/inf that JSON cannot carry, {counted} calls with a value "
          f"missing or one too many), {len(unclear)} unclear, "
          f"{len(accepted)} accepted; slowest refusals:",
          sorted(slow, reverse=True)[:5])
    assert unclear == [], json.dumps(unclear[:40], indent=1)
    assert accepted == [], json.dumps(accepted[:40], indent=1)
