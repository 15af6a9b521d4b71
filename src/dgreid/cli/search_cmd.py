"""``dgreid search MODEL --query Q --gallery G``: rank gallery crops for each query crop."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dgreid.cli.extract_cmd import add_flip_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="rank gallery images for each query image (exact or faiss)",
        description="Q and G are image folders (embedded with MODEL) or .npz files from "
        "'dgreid extract'. Writes the ranked lists as CSV or JSON, optionally as HTML pages.",
    )
    p.add_argument("model", help="run folder, model.pt, or .onnx from 'dgreid export'")
    p.add_argument("--query", required=True, help="query image folder or .npz feature file")
    p.add_argument("--gallery", required=True, help="gallery image folder or .npz feature file")
    p.add_argument("--topk", type=int, default=20, help="gallery images per query (default 20)")
    p.add_argument(
        "--metric",
        choices=["euclidean", "cosine"],
        help="distance (default: the one the model was evaluated with, eval.metric; euclidean "
        "for a model file that does not record it)",
    )
    p.add_argument(
        "--index",
        choices=["exact", "faiss", "faiss-ivf"],
        default="exact",
        help="exact: torch brute force; faiss: exact faiss index (saved, reused); "
        "faiss-ivf: approximate IVF index for large galleries",
    )
    p.add_argument(
        "--index-path",
        help="where the faiss index is saved (default: beside --out, named after G)",
    )
    p.add_argument(
        "--rerank",
        action="store_true",
        help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) of the exact distances; needs "
        "--index exact and memory for (queries + gallery)^2 distances; helps when the gallery "
        "holds several images per identity",
    )
    p.add_argument("--nlist", type=int, default=0, help="IVF cells (0 = about sqrt(gallery))")
    p.add_argument("--nprobe", type=int, default=32, help="IVF cells visited per query")
    p.add_argument("--out", default="ranked.csv", help="ranked lists: .csv or .json")
    p.add_argument("--html", help="also write browsable pages (index .html path or a folder)")
    p.add_argument("--page-size", type=int, default=50, help="queries per HTML page")
    p.add_argument(
        "--html-absolute-links",
        action="store_true",
        help="link the HTML pages to the images by absolute file:// paths (default: relative "
        "paths, which name no local folder)",
    )
    add_flip_argument(p)
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--workers", type=int, default=2, help="image-decoding processes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dgreid.deploy.api import load
    from dgreid.deploy.features import FolderFeatures, extract_folder, load_features
    from dgreid.deploy.search import (
        SearchError,
        check_rerank_index,
        exact_search,
        faiss_search,
        reranked_search,
        write_ranking,
    )

    if args.topk < 1:
        raise SearchError(f"--topk must be >= 1, got {args.topk}")
    if args.rerank:
        check_rerank_index(args.index)
    model = load(args.model, device=args.device, flip=args.flip)
    if args.metric is None:
        args.metric = model.metric
        if not model.meta.metric:
            print(
                f"note: {args.model} does not record the metric it was evaluated with (written "
                f"by an older dgreid); ranking with {model.metric} (--metric to choose)",
                file=sys.stderr,
            )

    def features(source: str, role: str) -> FolderFeatures:
        if Path(source).suffix == ".npz":
            fs = load_features(source)
            if fs.meta.get("created") not in (None, model.meta.created):
                print(f"warning: {source} was extracted with another model", file=sys.stderr)
            elif bool(fs.meta.get("flip", False)) != model.flip:
                print(
                    f"warning: {source} was extracted with flip={fs.meta.get('flip', False)}; "
                    f"this search embeds with flip={model.flip} (--flip / --no-flip)",
                    file=sys.stderr,
                )
            return fs
        fs, skipped = extract_folder(model, source, args.batch_size, args.workers)
        for s in skipped:
            print(f"warning: skipped {s.reason}", file=sys.stderr)
        if skipped:
            print(f"{len(skipped)} {role} files skipped")
        return fs

    query, gallery = features(args.query, "query"), features(args.gallery, "gallery")
    t0 = time.perf_counter()
    if args.rerank:
        ranking = reranked_search(
            query.features, gallery.features, args.topk, args.metric, device=model.device
        )
        how = "exact search, k-reciprocal re-ranked"
    elif args.index == "exact":
        ranking = exact_search(
            query.features, gallery.features, args.topk, args.metric, device=model.device
        )
        how = "exact search"
    else:
        from dgreid.deploy.faiss_index import IndexSpec, default_index_path

        kind = "ivf" if args.index == "faiss-ivf" else "flat"
        spec = IndexSpec(kind=kind, metric=args.metric, nlist=args.nlist, nprobe=args.nprobe)
        path = args.index_path or default_index_path(args.gallery, spec, Path(args.out).parent)
        ranking, reused = faiss_search(
            query.features,
            gallery.features,
            args.topk,
            args.metric,
            kind,
            path,
            nlist=args.nlist,
            nprobe=args.nprobe,
        )
        how = f"faiss {kind} index {'reused from' if reused else 'built and saved to'} {path}"
    secs = time.perf_counter() - t0
    write_ranking(args.out, query, gallery, ranking)
    print(
        f"{len(query)} queries x {len(gallery)} gallery, top-{ranking.k} ({args.metric}, {how}) "
        f"in {secs:.2f}s -> {args.out}"
    )
    if args.html:
        from dgreid.deploy.ranked_html import write_ranked_html
        from dgreid.deploy.search import ranked_queries

        index = write_ranked_html(
            args.html,
            ranked_queries(query, gallery, ranking),
            page_size=args.page_size,
            absolute_links=args.html_absolute_links,
        )
        print(f"HTML pages: {index}")
    return 0
