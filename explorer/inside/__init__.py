"""Inside the model: what the text encoder and the denoiser represent (the text-encoder lens; sparse autoencoders on
the denoiser's blocks and feature painting), checked against the miniature world's oracle. Importable without gradio."""
