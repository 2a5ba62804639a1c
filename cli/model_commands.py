"""Subcommands of the model area: synth, train, evaluate, bench scorer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cli.options import add_device_option, add_json_option, add_subset_args, add_wire_options, select_subset, wire_of
from cli.options import fail as _err
from pipelines.config import Config


def _write_json(path: str | None, figures: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


# --- synth -----------------------------------------------------------------------------------------


def cmd_synth(args: argparse.Namespace, cfg: Config) -> int:
    from monitor.challenges import build_challenge_set
    from monitor.cure_tsr import challenge_code, training_images
    from monitor.renderings import FIT_RENDERINGS, check_renderings

    src = Path(args.data)
    if not src.is_dir():
        return _err(f"--data {src}: not a directory of clean images")
    items = select_subset(training_images(src), args)
    if not items:
        return _err(f"--data {src}: no images found")
    try:
        challenges = [challenge_code(c) for c in args.challenges.split(",")] if args.challenges else None
        levels = tuple(int(v) for v in args.levels.split(","))
        # No parser default: the constant lives in monitor (importing it there would load torch on every command).
        renderings = check_renderings(args.renderings.split(",")) if args.renderings else FIT_RENDERINGS
    except ValueError as e:
        return _err(f"--challenges/--levels/--renderings: {e}")
    try:
        wire = wire_of(args, cfg)
        summary = build_challenge_set(
            items,
            args.out,
            challenges=challenges,
            levels=levels,
            seed=args.seed,
            split=args.split,
            progress=True,
            wire=wire,
            renderings=renderings,
        )
    except ValueError as e:
        return _err(str(e))
    Console(stderr=True).print(
        f"wrote {summary['images_written']} images ({len(summary['folders'])} folders) from "
        f"{summary['sources']} clean frames of {summary['tracks']} tracks to {args.out} "
        f"in {summary['seconds']} s, each frame as decoded after {wire.describe()} (tracks per rendering: "
        + ", ".join(f"{r} {n}" for r, n in summary["renderings"].items())
        + ")"
    )
    return 0


# --- train -----------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace, cfg: Config) -> int:
    from monitor.cure_tsr import training_images
    from monitor.train import train_model

    src = Path(args.data)
    if not src.is_dir():
        return _err(f"--data {src}: not a directory")
    items = select_subset(training_images(src), args)
    if not items:
        return _err(f"--data {src}: no clean images found")
    t = cfg.train
    epochs = args.epochs if args.epochs is not None else t.epochs
    console = Console(stderr=True)
    console.print(
        f"training GradCon on {len(items)} clean frames from {len({g for _, g in items})} tracks of {src} "
        f"({epochs} epochs, {'colour' if t.channels == 3 else 'grey'})"
    )
    with _progress(console) as prog:
        task = prog.add_task("train", total=epochs, info="")

        def on_epoch(s) -> None:
            prog.update(
                task,
                advance=1,
                info=f"loss {s.loss:.4f} recon {s.recon:.4f} grad {s.grad_loss:+.3f} | val {s.val_loss:.4f}",
            )

        try:
            model_id, res = train_model(
                [p for p, _ in items],
                [g for _, g in items],
                args.out,
                channels=t.channels,
                epochs=epochs,
                batch_size=t.batch_size,
                lr=t.lr,
                alpha=t.alpha,
                val_fraction=t.val_fraction,
                seed=args.seed if args.seed is not None else t.seed,
                data_root=str(src),
                on_epoch=on_epoch,
            )
        except ValueError as e:
            return _err(str(e))
    console.print(
        f"wrote {args.out} (model {model_id}): best epoch {res.best_epoch}, validation loss {res.best_val_loss:.5f}"
    )
    return 0


# --- evaluate --------------------------------------------------------------------------------------


def render_auroc_tables(table, console: Console) -> None:
    from calibration.evaluate import SCORE_KINDS

    for kind in SCORE_KINDS:
        t = Table(title=f"AUROC, {kind} ({table.n_clean} clean frames as inliers)", title_justify="left")
        t.add_column("challenge")
        for lv in table.levels:
            t.add_column(f"L{lv}", justify="right")
        t.add_column("mean", justify="right", style="bold")
        for c in table.challenges:
            t.add_row(
                c,
                *[f"{table.auroc[(kind, c, lv)]:.3f}" if (kind, c, lv) in table.auroc else "-" for lv in table.levels],
                f"{table.mean(kind, challenge=c):.3f}",
            )
        t.add_row(
            "mean",
            *[f"{table.mean(kind, levels=(lv,)):.3f}" for lv in table.levels],
            f"{table.mean(kind):.3f}",
            style="bold",
        )
        console.print(t)


def render_loro_tables(directions: list[dict], console: Console) -> None:
    """The leave-one-rendering-out table (calibration.loro), one per direction."""
    for d in directions:
        s = d["summary"]
        t = Table(
            title=f"fit on rendering {d['fit']} ({d['fit_tracks']} tracks), tested on {d['test']} "
            f"({d['test_tracks']} tracks): episodes met {s['episodes_met']}/{s['episodes']}, "
            f"false alerts {s['false_alerts']}, mean AUROC L3-5 {s['mean_auroc_levels_3_5']}"
        )
        for col in ("challenge", "level", "AUROC anomaly", "detected", "named right", "episodes met"):
            t.add_column(col, justify="left" if col == "challenge" else "right")
        for r in d["table"]:
            named = "-" if r["naming_accuracy"] is None else f"{r['naming_accuracy']:.2f}"
            t.add_row(
                r["challenge"],
                str(r["level"]),
                f"{r['auroc_anomaly']:.3f}",
                f"{r['detection_rate']:.2f}",
                named,
                f"{r['episodes_met']}/{r['episodes']}",
            )
        console.print(t)


def cmd_evaluate(args: argparse.Namespace, cfg: Config) -> int:
    from calibration.evaluate import evaluate_dir
    from monitor import load_model

    console = Console()
    # Everything is checked before any scoring starts; each problem is one line.
    try:
        wire = wire_of(args, cfg)
        scorer = load_model(args.model, device=args.device, expect_size=cfg.consumer.input_size)
    except (OSError, ValueError) as e:  # CheckpointError is a ValueError and names the file
        return _err(str(e))
    if not Path(args.data).is_dir():
        return _err(f"--data {args.data}: not a directory (expected a CURE-TSR layout)")
    if args.calibration:
        from calibration.calibration_file import CalibrationError, load_calibration

        try:
            load_calibration(args.calibration, model_id=scorer.model_id)
        except CalibrationError as e:
            return _err(str(e))
    try:
        with _progress(Console(stderr=True)) as prog:
            task = prog.add_task("score", total=None, info="")
            table = evaluate_dir(scorer, args.data, progress=lambda n: prog.update(task, advance=n), wire=wire)
    except ValueError as e:  # e.g. no CURE-TSR frames under --data
        return _err(str(e).splitlines()[0])
    report = None
    if args.calibration or args.report:
        report = _calibrated_report(args, cfg, wire)
    if report is not None and report.get("threshold") is not None:
        render_calibrated_table(report, console)  # the figures a deployment gets: the main table
        console.print(
            "[dim]raw GradCon scores follow (the authors' one-sided score: a value under 0.5 means the "
            "condition looks MORE normal to it, which is why the calibrated detector is two-sided)[/dim]"
        )
    elif not args.calibration:
        console.print("[dim]raw GradCon scores only: pass --calibration for the detector's figures[/dim]")
    render_auroc_tables(table, console)
    console.print(f"frames seen through {table.wire} (--wire-encoding; default the producers')")
    figures = table.flat()
    figures["model_id"] = scorer.model_id
    _write_json(args.json, figures)
    if report is not None:
        render_loro_tables(report.get("leave_one_rendering_out") or [], console)
    if args.report:
        console.print(f"report written to {args.report}")
    return 0


def _calibrated_report(args: argparse.Namespace, cfg: Config, wire) -> dict:
    """The report's figures (calibration.report.write_report), into --report or a scratch folder."""
    import tempfile

    from calibration.report import write_report

    with tempfile.TemporaryDirectory() as scratch:
        return write_report(
            args.report or scratch,
            model=args.model,
            data=args.data,
            calibration=args.calibration,
            alert_cfg=cfg.alerts,
            device=args.device,
            wire=wire,
            calibration_cfg=cfg.calibration,
        )


def render_calibrated_table(report: dict, console: Console) -> None:
    """The calibrated detector per challenge and level: AUROC of the anomaly value, detection at the
    threshold, and how many detected frames were named right."""
    t = Table(
        title=f"calibrated detector: false alarms on clean frames {report['false_alarm_rate_clean']:.2%} "
        f"at threshold {report['threshold']:.3g}; mean AUROC L3-5 {report['mean_auroc'].get('anomaly_levels_3_5')}; "
        f"detection L3-5 {report.get('detection_rate_levels_3_5')}; naming L3-5 {report.get('naming_accuracy_levels_3_5')}",
        title_justify="left",
    )
    for col in ("challenge", "level", "AUROC anomaly", "detected", "named right"):
        t.add_column(col, justify="left" if col == "challenge" else "right")
    for r in report["table"]:
        named = "-" if r.get("naming_accuracy") is None else f"{r['naming_accuracy']:.2f}"
        t.add_row(r["challenge"], str(r["level"]), f"{r['auroc_anomaly']:.3f}", f"{r['detection_rate']:.2f}", named)
    console.print(t)


# --- bench scorer ----------------------------------------------------------------------------------


def cmd_bench_scorer(args: argparse.Namespace, cfg: Config) -> int:
    import torch

    from cli.bench_scorer import bench_scorer, load_bench_frames
    from monitor import load_model
    from monitor.checkpoint import make_untrained_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model
    if model is None:
        import tempfile

        model = str(Path(tempfile.mkdtemp()) / "untrained.pt")
        make_untrained_checkpoint(model)  # speed does not depend on the weights
    try:
        scorer = load_model(model, device=args.device)
    except (OSError, ValueError) as e:  # CheckpointError names the file
        return _err(str(e))
    frames = load_bench_frames(args.data)
    fig = bench_scorer(scorer, frames, batch=args.batch, rounds=args.rounds, loop_frames=args.loop_frames)
    t = Table(
        title=f"scorer benchmark: batch {fig['batch']}, {fig['device']}, {fig['threads']} threads, "
        f"median of {fig['rounds']} interleaved rounds",
        title_justify="left",
    )
    t.add_column("path")
    t.add_column("images/s", justify="right")
    t.add_row("(a) batched forward + decoder backward (floor)", f"{fig['floor_images_per_s']:,.0f}")
    t.add_row("(b) fast batched scorer", f"{fig['fast_images_per_s']:,.0f}")
    t.add_row("(c) batch-size-1 loop (authors')", f"{fig['loop_images_per_s']:,.0f}")
    Console().print(t)
    print(
        f"b/a = {fig['fast_over_floor']:.3f}   b/c = {fig['fast_over_loop']:.1f}   "
        f"max |fast - loop| = {fig['max_abs_diff_fast_vs_loop']:.2e}"
    )
    _write_json(args.json, fig)
    return 0


def register(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    """The model area's subcommands: synth, train, evaluate; bench scorer."""
    _register_synth(sub)
    _register_train(sub)
    _register_evaluate(sub)
    _register_bench_scorer(bench_sub)


def _register_synth(sub: argparse._SubParsersAction) -> None:
    """`synth`: a CURE-TSR-style challenge set from clean images."""
    p = sub.add_parser(
        "synth",
        help="build a CURE-TSR-style challenge set from clean sign crops",
        description="Apply the 12 CURE-TSR challenge types at 5 levels to clean crops and write them "
        "in the CURE-TSR layout (plus manifest.csv keeping each frame's track).",
    )
    p.add_argument("--data", required=True, help="folder of clean images (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (CURE-TSR layout)")
    p.add_argument("--challenges", help="comma-separated challenge names or codes (default all 12)")
    p.add_argument("--levels", default="1,2,3,4,5", help="comma-separated levels (default 1,2,3,4,5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="Real_Test", help="split folder to write (default Real_Test)")
    add_wire_options(p)
    add_subset_args(p)
    p.add_argument(
        "--renderings",
        help="renderings of the effects (A-R), taking the tracks in turn (default "
        "monitor.renderings.FIT_RENDERINGS: a blind holdout such as R stays out of the default fit until it "
        "has been measured; manifest.csv says which)",
    )
    p.set_defaults(func=cmd_synth)


def _register_train(sub: argparse._SubParsersAction) -> None:
    """`train`: a GradCon model on clean images."""
    p = sub.add_parser(
        "train",
        help="train GradCon on clean frames",
        description="Train GradCon on challenge-free frames: a CURE-TSR layout (its ChallengeFree "
        "frames) or any folder of clean images. Validation is split by track.",
    )
    p.add_argument(
        "--data",
        default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"),
        help="training data (default: ../shared/data/belgiumtsc)",
    )
    p.add_argument("--out", default="runs/model.pt", help="checkpoint to write (default runs/model.pt)")
    p.add_argument("--epochs", type=int, help="epochs (default: train.epochs in the config, 60)")
    p.add_argument("--seed", type=int, help="seed (default: train.seed in the config)")
    add_subset_args(p)
    p.set_defaults(func=cmd_train)


def _register_evaluate(sub: argparse._SubParsersAction) -> None:
    """`evaluate`: the model's scores on a challenge set."""
    p = sub.add_parser(
        "evaluate",
        help="AUROC per challenge type and level on a CURE-TSR layout",
        description="Challenge-free frames are the inliers, the same frames under each challenge "
        "type and level the outliers (the paper's protocol).",
    )
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="CURE-TSR layout (real data set or one built by synth)")
    add_device_option(p)
    add_json_option(p)
    p.add_argument("--calibration", help="calibration file, for the report's calibrated figures")
    p.add_argument("--report", metavar="DIR", help="write a full evaluation report (JSON, Markdown, ROC PNGs) to DIR")
    add_wire_options(p)
    p.set_defaults(func=cmd_evaluate)


def _register_bench_scorer(bench_sub: argparse._SubParsersAction) -> None:
    """`bench scorer`: the scorer's images/s."""
    p = bench_sub.add_parser(
        "scorer",
        help="fast scorer vs its floor vs the batch-size-1 loop",
        description="Images/s of (a) batched forward + decoder backward, (b) the fast scorer, "
        "(c) the authors' batch-size-1 loop, on the same batch; ratios b/a and b/c.",
    )
    p.add_argument("--model", help="checkpoint (default: an untrained model; speed does not depend on weights)")
    p.add_argument("--data", help="folder of images for the batch (default ../shared/data/belgiumtsc)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--loop-frames", type=int, default=256, help="frames the slow loop scores per round")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    add_device_option(p)
    add_json_option(p)
    p.set_defaults(func=cmd_bench_scorer)
