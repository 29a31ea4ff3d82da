"""The miniature world at run time: its scenes, captions and renderer (`scenes`) and its pixel oracle (`oracle`).

numpy, PIL and scipy only, and nothing of the explorer above it: the archive draws miniworld's training set
from it again, search pages and the lesson read what a picture shows with the oracle. The training code
(`python -m explorer.miniworld.train`) lives apart in explorer/miniworld/.
"""
