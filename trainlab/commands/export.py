"""``trainlab export RUN_DIR --format onnx|torchscript|pt2``: a trained model that runs without trainlab."""
from __future__ import annotations

import argparse

FORMATS = ("onnx", "torchscript", "pt2")  # trainlab.tools.export.FORMATS (tests/test_export.py keeps them equal)


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "export", help="export a trained run as ONNX, TorchScript or a torch.export program (preprocessing folded in)",
        description="Write the run's model with its saved preprocessing folded in and softmax (classification) or "
                    "the targets' units (regression) at the end, so the file returns what `trainlab predict` "
                    "returns. Input 'input' (batch, *input shape, float32); output 'probabilities' or 'prediction'. "
                    "Writes FILE and FILE.json (names, shapes, class names). See docs/tracking.md.")
    cmd.add_argument("run_dir", metavar="RUN_DIR", help="a finished (or checkpointed) run directory")
    cmd.add_argument("--format", choices=FORMATS, default="onnx",
                     help="onnx (torch.onnx; needs pip install \"trainlab[export]\"), torchscript (torch.jit.trace) "
                          "or pt2 (torch.export) (default: onnx)")
    cmd.add_argument("--out", metavar="FILE", help="model file (default: <run name>.onnx / .pt / .pt2 here)")
    cmd.add_argument("--checkpoint", metavar="FILE", help="a checkpoint's JSON file instead of the newest, "
                                                         "e.g. RUN_DIR/checkpoints/best.json")
    cmd.add_argument("--force", action="store_true", help="replace an existing --out file")
    cmd.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> None:
    from trainlab.tools.export import export_run

    out = export_run(args.run_dir, args.format, args.out, args.checkpoint, args.force)
    print(f"model: {out}")
    print(f"description: {out.with_name(out.name + '.json')}")
