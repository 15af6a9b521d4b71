"""``dgreid extract MODEL IMAGES_DIR --out features.npz``: features of every image in a folder."""

from __future__ import annotations

import argparse
import sys


def add_flip_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average each feature with its mirror image's (default: as the model's run was "
        "evaluated, eval.flip)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="embed every image under a folder (recursive) into a .npz feature file",
        description="Embed every image under IMAGES_DIR; unreadable files are skipped and listed.",
    )
    p.add_argument("model", help="run folder, model.pt, or .onnx from 'dgreid export'")
    p.add_argument("images", help="folder of person crops (searched recursively)")
    p.add_argument("--out", required=True, help="output .npz (features, relative paths)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--workers", type=int, default=2, help="image-decoding processes")
    add_flip_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dgreid.deploy.api import load
    from dgreid.deploy.features import extract_folder, save_features
    from dgreid.errors import DatasetError

    model = load(args.model, device=args.device, flip=args.flip)
    fs, skipped = extract_folder(
        model, args.images, args.batch_size, args.workers, progress=not args.no_progress
    )
    for s in skipped:
        print(f"warning: skipped {s.reason}", file=sys.stderr)
    if len(fs) == 0:
        raise DatasetError(f"{args.images}: no readable images found ({len(skipped)} skipped)")
    save_features(args.out, fs)
    print(f"{len(fs)} images -> {args.out} ({fs.features.shape[1]}-d features)")
    if skipped:
        print(f"{len(skipped)} files skipped")
    return 0
