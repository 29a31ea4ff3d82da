"""Stop frees the model within a step at any size, skips the final decode, and works at every stage; text requests
never wait for a generation (issue 33). The UNet is slowed by sleeping hooks so that one step is long on any
machine; every bound is a share of a step measured in the same run, never an absolute time."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np

from explorer.config import ExplorerConfig
from explorer.generation.batcher import Batcher
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.generation.together import generate_together
from explorer.text.tokens import inspect_tokens

SLEEP_S = 0.3               # per ResNet block of tiny-random's UNet (8 a step: a step of 2.4 s or more)


@contextmanager
def slow_unet(model, seconds: float = SLEEP_S):
    """Every ResNet block of the model's UNet sleeps first: a step as slow as a real model's, at any size."""
    blocks = [m for m in model.pipe.unet.modules() if type(m).__name__ == "ResnetBlock2D"]
    handles = [b.register_forward_pre_hook(lambda *_: time.sleep(seconds)) for b in blocks]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def counting_decodes(model):
    """How many times the VAE's decoder ran while inside: [count]."""
    count = [0]
    handle = model.pipe.vae.decoder.register_forward_pre_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    try:
        yield count
    finally:
        handle.remove()


class Timeline:
    """on_step that records when each step ended and stops the run at the start of step `stop_in` (0-based),
    once a step's length is known."""

    def __init__(self, cancel: threading.Event, stop_in: int | None = None):
        self.cancel, self.stop_in, self.ends, self.stopped_at = cancel, stop_in, [time.perf_counter()], None
        self.ready = threading.Event()

    def __call__(self, preview) -> None:
        self.ends.append(time.perf_counter())
        if preview.index + 1 == self.stop_in:
            self.ready.set()

    def stop_mid_step(self) -> float:
        """Wait for the step before `stop_in` to end, then a third of a step, then Stop; returns a step's length."""
        assert self.ready.wait(600)
        step = self.ends[-1] - self.ends[-2]
        time.sleep(step / 3)
        self.stopped_at = time.perf_counter()
        self.cancel.set()
        return step


def _run(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target():
        out["result"] = fn()
        out["done"] = time.perf_counter()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_stop_during_a_step_frees_the_model_within_the_step_and_skips_the_decode(tiny_model):
    """A slow step at a 64 x 64 latent (128 px on tiny-random, whose VAE halves; SD 1.5's latent at 512 px): Stop in
    the middle of step 3 ends the run long before that step would have ended, the VAE never decodes, the picture
    is step 2's x0 preview at the recipe's size; a /tokens-like request made during the step answers while the
    generation holds the model."""
    recipe = recipe_defaults(tiny_model, "a red fox", seed=3, steps=8, width=128, height=128, preview="approx")
    cancel = threading.Event()
    timeline = Timeline(cancel, stop_in=2)              # step 2's length measured, Stop a third into step 3
    with slow_unet(tiny_model), counting_decodes(tiny_model) as decodes:
        thread, out = _run(lambda: generate(tiny_model, recipe, on_step=timeline, cancel=cancel))
        assert timeline.ready.wait(600)
        asked = time.perf_counter()
        tokens = inspect_tokens(tiny_model, "a text request during a generation")    # needs the text encoder only
        answered = time.perf_counter() - asked
        step = timeline.stop_mid_step()
        thread.join(600)
        assert tiny_model.lock.acquire(timeout=600)                              # the model is free
        tiny_model.lock.release()
    freed = out["done"] - timeline.stopped_at
    assert tokens.tokens and answered < step / 3, (answered, step)              # not after the generation's 7 steps
    assert freed < step / 3, (freed, step)                                      # within a block, not the step's rest
    result = out["result"]
    assert result.cancelled and len(result.steps) == 2 and decodes[0] == 0      # no VAE decode of the abandoned latent
    assert result.image.size == (128, 128)


def test_stopped_before_the_first_step_keeps_nothing(tiny_model):
    """A Stop during step 1 (or before it) leaves no image and no steps: nothing to save."""
    recipe = recipe_defaults(tiny_model, "a red fox", seed=4, steps=4, preview="approx")
    cancel = threading.Event()
    with slow_unet(tiny_model):
        thread, out = _run(lambda: generate(tiny_model, recipe, cancel=cancel))
        time.sleep(4 * SLEEP_S)                                                  # inside the first step
        cancel.set()
        thread.join(600)
    result = out["result"]
    assert result.cancelled and result.image is None and result.steps == []
    already = threading.Event()
    already.set()
    assert generate(tiny_model, recipe, cancel=already).image is None


def test_a_stop_during_a_shared_step_ends_that_image_before_the_step(tiny_model):
    """In a classroom batch, an image whose Stop arrives during step 1 keeps nothing; the others finish as alone."""
    recipes = [recipe_defaults(tiny_model, "a red fox", seed=s, steps=3, preview="approx") for s in (5, 6)]
    cancels = [threading.Event(), None]
    conditionings = [conditioning_for(tiny_model, r) for r in recipes]
    with slow_unet(tiny_model):
        thread, out = _run(lambda: generate_together(tiny_model, recipes, conditionings, cancels=cancels))
        time.sleep(4 * SLEEP_S)
        cancels[0].set()
        thread.join(600)
    stopped, finished = out["result"]
    assert stopped.cancelled and stopped.image is None and stopped.steps == []
    assert not finished.cancelled and len(finished.steps) == 3
    alone = generate(tiny_model, recipes[1])
    assert np.array_equal(np.asarray(alone.image), np.asarray(finished.image))


def test_stop_while_waiting_in_the_batcher_returns_at_once_with_nothing(tiny_model):
    """A request waiting behind another user's run is withdrawn by its Stop: it returns before that run ends
    (issue 33: it returned 195 s later, after the other run, then ran a step and saved a 1-step image)."""
    batcher = Batcher(tiny_model, ExplorerConfig(classroom_batch=1), size=1, window_s=0.0)
    first = recipe_defaults(tiny_model, "a red fox", seed=7, steps=4, preview="approx")
    second = first.with_(seed=8)
    cancel = threading.Event()
    waits = []
    with slow_unet(tiny_model), counting_decodes(tiny_model) as decodes:
        running, ran = _run(lambda: batcher.generate(first))
        while batcher.running == 0:
            time.sleep(0.01)
        waiting, out = _run(lambda: batcher.generate(second, cancel=cancel, on_wait=waits.append))
        while not waits:
            time.sleep(0.01)
        stopped_at = time.perf_counter()
        cancel.set()
        waiting.join(600)
        running.join(600)
    result = out["result"]
    assert result.cancelled and result.image is None and result.steps == []
    assert out["done"] < ran["done"], "the stopped request waited for the other user's run"
    assert out["done"] - stopped_at < (ran["done"] - stopped_at) / 2
    assert not ran["result"].cancelled and decodes[0] == 1                     # the other run's decode only
    assert batcher.batches == [1]                                               # the stopped request never ran
