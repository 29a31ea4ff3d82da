"""Verb `archive`: existing images for a prompt, or the archive images nearest to a picture (with novelty)."""
from __future__ import annotations

import sys

from explorer.archive.retrieval import nearest_images, open_archive, retrieve
from explorer.checks import check_int
from explorer.cli.common import add_model_args, config_from, load, print_json
from explorer.config import MAX_INDEX_IMAGES, ExplorerConfig
from explorer.outputs.png import open_image


def register(subparsers) -> None:
    p = subparsers.add_parser("archive", help="existing images for a prompt, or nearest to a picture (novelty)",
                              description="Search an archive of existing images in the CLIP image space of the "
                                          "model's family: by a prompt (image-text cosine) or by a picture "
                                          "(image-image cosine, with how near it lies on the archive's own scale). "
                                          "The archive is indexed once (cached); miniworld's own archive is its "
                                          "training set, drawn again from its seed.")
    add_model_args(p)
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--prompt", help="text to find existing images for")
    query.add_argument("--image", help="a picture (PNG, JPEG, WebP) to find the nearest archive images of")
    p.add_argument("--k", type=int, default=8, help="number of archive images (default 8)")
    p.add_argument("--archive", default=None, metavar="DIR",
                   help="a folder of images (captions: photo.txt beside photo.png, else a PNG's parameters); "
                        "default: the model's own archive (miniworld: its training set)")
    p.add_argument("--limit", type=int, default=None, help="index only the first N images (a quick look)")
    p.add_argument("--max-images", type=int, default=None,
                   help=f"refuse a larger folder (default {ExplorerConfig.max_archive_images:,}; an index of more, "
                        "e.g. one built by index-job, is searched exactly: memory is 3 KB per image)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run_archive)


def run_archive(args) -> int:
    config = config_from(args)
    if args.max_images is not None:
        config.max_archive_images = check_int("max_images", args.max_images, 1, MAX_INDEX_IMAGES)
    # 1. the picture is read before the model spends time
    picture = open_image(args.image, "image", config.max_image_pixels).convert("RGB") if args.image else None
    # 2. the model, its CLIP vision model and the archive index
    model = load(args)
    last = [-1]

    def progress(done: int, total: int) -> None:
        if done * 10 // total != last[0]:                 # every tenth
            last[0] = done * 10 // total
            print(f"indexing the archive: {done:,}/{total:,} images", file=sys.stderr)

    archive, vision = open_archive(model, args.archive, config, progress=progress, limit=args.limit,
                                   any_folder=True)
    print(f"note: {archive.note}", file=sys.stderr)
    # 3. the query
    if picture is None:
        result = retrieve(archive, vision, args.prompt, args.k, config)
        data = {"archive": result.archive, "prompt": result.query, "note": result.note,
                "coverage": result.coverage.to_dict() if result.coverage else None,
                "results": [hit.to_dict() for hit in result.hits]}
    else:
        result = nearest_images(archive, vision, picture, args.k, config)
        data = {"archive": result.archive, "image": args.image, "note": result.note,
                "novelty": result.novelty.to_dict(), "coverage": result.coverage.to_dict() if result.coverage else None,
                "results": [hit.to_dict() for hit in result.hits]}
    # 4. print
    if args.json:
        print_json(data)
        return 0
    print(result.note)
    for hit in result.hits:
        print(f"{hit.rank:>3}. {hit.similarity:+.3f}  {hit.path or hit.id}  {hit.caption or '(no caption)'}")
    if picture is not None:
        print(result.novelty.sentence)
    if result.coverage:
        print(result.coverage.sentence)
    return 0
