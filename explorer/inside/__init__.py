"""Inside the model: what the text encoder and the denoiser represent (the text-encoder lens, the feature microscope)."""
