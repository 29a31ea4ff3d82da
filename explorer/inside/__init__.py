"""Inside the model: what the denoiser represents (sparse autoencoders on its blocks, feature painting), checked
against the miniature world's oracle. Importable without gradio."""
