"""Verbs `map` and `axis`: the nearest concepts on a 2-D map (HTML), a vocabulary ranked along a concept axis."""
from __future__ import annotations

import sys

from explorer.cli.common import add_model_args, config_from, load, new_file, print_json, vocabulary_arg
from explorer.concepts.axes import check_poles, make_axis, rank_vocabulary
from explorer.concepts.index import ConceptIndex
from explorer.concepts.projection import (DEFAULT_K, DEFAULT_PATH_POINTS, METHODS, PROJECTION_NOTES, concept_map,
                                          query_points)
from explorer.errors import InputError
from explorer.plots.map import concept_map_figure


def register(subparsers) -> None:
    p = subparsers.add_parser("map", help="map the concepts nearest to prompts, expressions or paths (HTML)",
                              description="Encode a vocabulary once (cached), take the k concepts nearest to the "
                                          "query points and project them to 2-D with UMAP (cosine) or PCA; "
                                          "write an interactive plotly HTML page.")
    add_model_args(p)
    p.add_argument("--prompt", action="append", required=True,
                   help='a prompt, "= expression" or "start -> end" (a path); repeat for several')
    p.add_argument("--k", type=int, default=DEFAULT_K, help=f"nearby concepts to map (default {DEFAULT_K})")
    p.add_argument("--method", default="umap", choices=METHODS, help="projection (default umap)")
    p.add_argument("--vocabulary", default="concepts",
                   help="concepts, tokenizer, or a path to your own list (assets/concepts format)")
    p.add_argument("--path-points", type=int, default=DEFAULT_PATH_POINTS, help="points along each path")
    p.add_argument("--seed", type=int, default=0, help="random_state of UMAP (default 0)")
    p.add_argument("--out", required=True, help="HTML file to write (must not exist)")
    p.add_argument("--json", action="store_true", help="also print the points as JSON")
    p.set_defaults(run=run_map)

    p = subparsers.add_parser("axis", help="rank a vocabulary along the axis between two poles",
                              description="Project every vocabulary entry onto the direction from the first "
                                          "pole's pooled embedding to the second's (0 = first pole, 1 = second).")
    add_model_args(p)
    p.add_argument("--poles", nargs=2, required=True, metavar=("A", "B"), help='e.g. --poles summer winter')
    p.add_argument("--vocabulary", default="concepts", help="concepts, tokenizer, or a path to your own list")
    p.add_argument("--top", type=int, default=20, help="entries shown toward each pole (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run_axis)


def _index(model, name: str, config):
    index = ConceptIndex.for_model(model, vocabulary_arg(name, config), config=config)
    print(f"note: {index.note}", file=sys.stderr)
    return index


def run_map(args) -> int:
    config = config_from(args)
    # 1. check the output path before the model spends time
    out = new_file(args.out, "out")
    model = load(args)
    # 2. the index and the query points
    index = _index(model, args.vocabulary, config)
    queries = query_points(model, "\n".join(args.prompt), path_points=args.path_points)
    # 3. fit and write
    if args.method == "umap":
        print("note: the first UMAP fit in a process compiles numba kernels (~20 s on a small CPU); "
              "--method pca is instant", file=sys.stderr)
    result = concept_map(index, queries, k=args.k, method=args.method, random_state=args.seed,
                         limit=config.max_map_neighbors)
    html = concept_map_figure(result).to_html(include_plotlyjs=True, full_html=True)
    with open(out, "x", encoding="utf-8") as file:
        file.write(html)
    print(f"wrote {out}: {result.n_concepts} concepts + {len(queries)} query points, {result.method} in "
          f"{result.seconds:.2f} s. {PROJECTION_NOTES[result.method]}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print_json({"method": result.method, "points": result.records()})
    return 0


def run_axis(args) -> int:
    if args.top < 1:
        raise InputError("top", "an integer >= 1", args.top)
    check_poles(*args.poles)
    config = config_from(args)
    model = load(args)
    index = _index(model, args.vocabulary, config)
    ranking = rank_vocabulary(index, make_axis(model, *args.poles))
    if args.json:
        print_json(ranking.to_dict(args.top))
        return 0
    print(f"{len(ranking.labels)} entries from '{ranking.pole_a}' (0) to '{ranking.pole_b}' (1)")
    for end, pole in (("a", ranking.pole_a), ("b", ranking.pole_b)):
        print(f"\ntoward '{pole}':")
        for label, category, position in ranking.rows(end, args.top):
            print(f"  {position:7.3f}  {label}  ({category})")
    return 0
