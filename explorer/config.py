"""One configuration object with safe defaults (every field commented), shared by UI, API and CLI."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# installed (pip install .): the repository's assets/ ship inside the package as explorer/_assets (pyproject.toml);
# in a source checkout they sit next to the package
ASSETS = _PACKAGE / "_assets" if (_PACKAGE / "_assets").is_dir() else _PACKAGE.parent / "assets"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latent-explorer"


MAX_INDEX_IMAGES = 10_000_000      # most images any archive index may hold (10^7 x 768 float32 = 31 GB): the ceiling
                                   # of max_archive_images (app --max-archive-images, CLI --max-images, index-job)


MAX_SIZE_CEILING = 4096            # the largest --max-size (app and CLI; explorer.checks.check_max_size)


@dataclass
class ExplorerConfig:
    model: str = "sd15"                      # preset name, Hugging Face id or local folder
    device: str | None = None                # None: cuda, then mps, then cpu
    dtype: str | None = None                 # None: float16 on cuda/mps, float32 on cpu
    low_memory: bool = False                 # CPU offload on CUDA, VAE slicing and tiling (models.loading)
    backend: str = "torch"                   # where the UNet and VAE decoder run: torch or openvino (models.backends)
    decoder: str = "full"                    # the final images' decoder: full or tiny (models.tiny_decoder)
    deepcache: int = 0                       # DeepCache interval for generations, 0: off (generation.deepcache)
    outputs_dir: Path = Path("outputs")      # every saved image lands here, never overwritten
    cache_dir: Path = field(default_factory=_default_cache_dir)  # concept indexes and the like
    max_size: int = 1536                     # largest width/height in pixels a request may ask for (--max-size;
                                             # SDXL's bucket sizes reach 1536x640); the time budget still applies
    min_size: int = 32                       # smallest width/height in pixels
    max_steps: int = 150                     # most denoising steps a request may ask for
    max_guidance: float = 30.0               # largest classifier-free guidance scale
    max_frames: int = 64                     # most frames in one interpolation
    max_seeds: int = 64                      # most seeds in one search or bias probe
    max_batch: int = 16                      # most images through the UNet at once
    forward_levels: int = 8                  # noise levels shown in the forward-process gallery
    host: str = "127.0.0.1"                  # bind address; 0.0.0.0 only when asked for
    port: int = 7860                         # HTTP port of the UI and API
    share: bool = False                      # gradio share link (opt-in: it opens a public URL)
    lang: str | None = None                  # UI language for every browser, "de" or "en"; None: each browser's own
    queue_size: int = 32                     # waiting requests before the queue says "full"
    max_vocabulary: int = 60_000             # most entries in one concept vocabulary (CLIP's whole words: ~33k)
    max_map_neighbors: int = 1000            # most nearby concepts (k) drawn in one concept map
    # --- one server, many users: what a single user may ask of the shared process ---
    shared_vocabularies: tuple = ()          # paths of lists the operator shares with every user (--vocabulary)
    max_upload_bytes: int = 16_000_000       # largest uploaded file (a vocabulary, an image, a PNG recipe)
    max_upload_entries: int = 5_000          # most entries in one uploaded vocabulary
    max_entry_chars: int = 200               # longest entry of an uploaded vocabulary
    max_session_vocabularies: int = 4        # lists one user may add (each is theirs alone)
    max_image_pixels: int = 4096 * 4096      # largest image (width x height) decoded from an upload
    max_request_seconds_cpu: float = 900.0   # a streamed request (generate, walk, search, probe) stops after this,
                                             # and no image whose estimated time exceeds it is admitted (generation.cost)
    max_request_seconds_gpu: float = 300.0   # the same on an accelerator
    max_queued_per_session: int = 3          # requests one user may have waiting or running at once
    classroom_batch: int = 8                 # Generate requests of different users run together (1: one at a time)
    batch_window_s: float = 1.0              # how long a first request waits for classmates' clicks (none when alone)
    max_sessions: int = 500                  # users whose state (history, lists, stop flags) is kept; oldest dropped
    # --- per client (an address; a script opens as many sessions as it likes, a person has one address) ---
    max_queued_per_client: int = 8           # requests one address may have waiting or running at once (0: no limit)
    max_new_sessions_per_minute: int = 120   # sessions one address may open in any minute (0: no limit)
    max_sessions_per_client: int = 250       # sessions kept for one address; a new one drops that address's oldest
    trust_proxy: bool = False                # the client is the last X-Forwarded-For address (only behind your proxy)
    class_code: str | None = None            # when set, the page and the API ask for it (gradio's login form)
    # --- memory kept per session (bytes) ---
    max_session_bytes: int = 4_000_000       # attention maps kept for one session (compacted to fit)
    max_state_bytes: int = 512_000_000       # attention maps kept for all sessions; the oldest dropped first
    # --- what the server tells others ---
    analytics: bool = False                  # gradio's usage analytics (off unless asked for: --analytics)
    monitoring: bool = False                 # gradio's /monitoring dashboard and summary (--monitoring)
    # --- the archive: existing images beside generated ones (explorer.archive) ---
    archive_roots: tuple = ()                # folders UI/API users may index (--archive-root); the CLI may index any
    max_archive_images: int = 100_000        # most images in one archive: exact search (one matrix product) stays fast
    max_archive_results: int = 100           # most archive images (k) one retrieval or nearest-image query returns
    index_archive_at_start: bool = True      # the model's own archive (miniworld) indexed in a thread at start

    def request_seconds(self, device_type: str) -> float:
        """How long one streamed request may run on this kind of device."""
        return self.max_request_seconds_cpu if device_type == "cpu" else self.max_request_seconds_gpu
