"""A1111 prompt editing on the pipeline's own loop: the conditioning switched between two denoiser calls.

A scheduled Conditioning (generation.conditioning, text.prompt_editing) goes into the pipeline with its first
entry's tensors. After call i, `callback_on_step_end` hands the loop the tensors of call i + 1's entry (A1111's
rule, text.prompt_editing.entry_at), under the names the pipelines' loops use and return from the callback:
StableDiffusionPipeline and StableDiffusionXLPipeline (diffusers 0.42) read `prompt_embeds` back, the two halves
concatenated (negative first) under classifier-free guidance as the pipeline concatenated them before its loop,
and SDXL `add_text_embeds` (the pooled vectors) too. The size ids do not change. A call counts one UNet pass,
as A1111's step counter counts one denoiser call: second-order schedulers (Heun) count two per step in both.
"""
from __future__ import annotations

from typing import Callable

import torch

from explorer.models.conditioning import Conditioning
from explorer.text.prompt_editing import entry_at


def loop_tensors(conditioning: Conditioning, guided: bool) -> dict[str, torch.Tensor]:
    """The pipeline loop's variables for one Conditioning: prompt_embeds (and SDXL's add_text_embeds)."""
    def both(negative, positive):
        return torch.cat([negative, positive]) if guided else positive

    tensors = {"prompt_embeds": both(conditioning.negative_prompt_embeds, conditioning.prompt_embeds)}
    if conditioning.pooled_prompt_embeds is not None:
        tensors["add_text_embeds"] = both(conditioning.negative_pooled_prompt_embeds,
                                          conditioning.pooled_prompt_embeds)
    return tensors


class SwitchConditioning:
    """callback_on_step_end for a scheduled Conditioning: runs `then` (the step watcher), then sets the next
    call's tensors where they change. Pass `tensor_inputs` as the pipeline's callback_on_step_end_tensor_inputs."""

    def __init__(self, conditioning: Conditioning, then: Callable | None = None):
        self.schedule, self.then = conditioning.schedule, then
        self.current = entry_at(self.schedule, 0)
        self.tensor_inputs = ["latents", *loop_tensors(conditioning, False)]

    def __call__(self, pipe, i: int, t, callback_kwargs: dict) -> dict:
        if self.then is not None:
            callback_kwargs = self.then(pipe, i, t, callback_kwargs)
        following = entry_at(self.schedule, i + 1)
        if following is not self.current:
            self.current = following
            callback_kwargs = {**callback_kwargs, **{      # on the loop's device, in its dtype
                name: tensor.to(callback_kwargs[name].device, callback_kwargs[name].dtype)
                for name, tensor in loop_tensors(following, pipe.do_classifier_free_guidance).items()}}
        return callback_kwargs
