"""Subcommand of the calibration area: calibrate."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.options import add_device_option, add_subset_args, add_wire_options, select_subset, wire_of
from cli.options import fail as _err
from pipelines.config import Config


def cmd_calibrate(args: argparse.Namespace, cfg: Config) -> int:
    import monitor
    from calibration.calibrate import calibrate_folders
    from calibration.calibration_file import CalibrationError, save_calibration, wire_label
    from calibration.threshold import ThresholdError
    from monitor.checkpoint import CheckpointError

    fpr = args.fpr if args.fpr is not None else cfg.calibration.fpr
    confidence = args.confidence if args.confidence is not None else cfg.calibration.confidence
    try:
        clean, support = _clean_tracks(args, fpr, confidence)
        wire = wire_of(args, cfg)
    except (ThresholdError, FileNotFoundError, ValueError) as e:
        return _err(str(e))
    try:
        scorer = monitor.load_model(args.model, device=args.device)
        print(support, flush=True)  # said once nothing stands in the way of scoring (bad input: one line)
        cal = calibrate_folders(
            scorer,
            args.data,
            args.challenges,
            fpr=fpr,
            confidence=confidence,
            method=args.method or cfg.calibration.method,
            min_confidence=cfg.calibration.min_confidence,
            min_level=cfg.calibration.min_level,
            wire=wire,
            clean=clean,
        )
    except (CalibrationError, ThresholdError, CheckpointError, FileNotFoundError, ValueError) as e:
        return _err(str(e).splitlines()[0] if str(e) else type(e).__name__)
    t = cal.threshold
    print(t.explanation)
    if not t.supported and not args.allow_unsupported:
        return _err(
            "not written: the clean frames cannot support the target (pass --allow-unsupported to write it anyway)"
        )
    save_calibration(args.out, cal)
    s = cal.summary
    print(
        f"wrote {args.out} (model {cal.model_id}): threshold {t.threshold:.4f}, "
        f"{s['clean_frames']} clean frames from {s['clean_tracks']} tracks, seen through {wire_label(cal.wire)}"
    )
    if "detection" in s:
        by_level: dict[int, list[float]] = {}
        for row in s["detection"]:
            by_level.setdefault(row["level"], []).append(row["detection_rate"])
        print(
            "detection rate at the threshold (out of fold), mean over challenge types: "
            + ", ".join(f"L{lv} {sum(v) / len(v):.2f}" for lv, v in sorted(by_level.items()))
        )
        weak = sorted((r for r in s["detection"] if r["level"] >= 3), key=lambda r: r["detection_rate"])[:4]
        print(
            "weakest at levels 3-5: "
            + ", ".join(f"{r['condition']}-{r['level']} {r['detection_rate']:.2f}" for r in weak)
        )
        print(
            f"condition naming accuracy on detected frames, levels 3-5 (out of fold): {s['naming_accuracy_levels_3_5_out_of_fold']}"
        )
    return 0


def _clean_tracks(args: argparse.Namespace, fpr: float, confidence: float) -> tuple[list, str]:
    """The clean (path, track) pairs to calibrate on (--subset), checked BEFORE anything is scored:
    whether their track count can support the target is a matter of counting (the binomial rule,
    calibration.threshold.support_check), and scoring a large folder takes minutes.
    Also the line saying what they can support. ValueError (one line) when they cannot, unless
    --allow-unsupported."""
    from calibration.threshold import support_check, supported_fpr
    from monitor.cure_tsr import training_images

    data = Path(args.data)
    if not data.is_dir():
        raise ValueError(f"--data {data}: not a directory of clean images")
    clean = select_subset(training_images(data), args)
    if not clean:
        raise ValueError(
            f"--data {data}: no clean images" + (f" in the {args.subset} subset" if args.subset != "all" else "")
        )
    tracks = len({g for _, g in clean})
    problem = support_check(tracks, fpr, confidence)
    if problem and not args.allow_unsupported:
        raise ValueError(f"{data}: {problem}; pass --fpr at or above that, more tracks, or --allow-unsupported")
    return clean, (
        f"{len(clean)} clean frames from {tracks} tracks ({args.subset}): they can support a false-alarm rate "
        f"down to {supported_fpr(tracks, confidence):.2%} at {confidence:.0%} confidence"
    )


def register(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit the detector, its threshold and the condition classifier; write calibration YAML",
        description="Fit the anomaly detector on clean frames, choose the threshold for a target per-frame "
        "false-alarm rate with a confidence bound, and (with --challenges) train the condition classifier.",
    )
    p.add_argument("--model", required=True, help="trained model checkpoint")
    p.add_argument(
        "--data",
        required=True,
        metavar="CLEAN_DIR",
        help="clean frames: image folder (<class>/<track>_<frame>.png) or CURE-TSR layout",
    )
    p.add_argument(
        "--challenges",
        metavar="CURE_TSR_DIR",
        help="challenge set (CURE-TSR layout, e.g. from build_challenge_set) for the classifier",
    )
    p.add_argument("--fpr", type=float, help="target per-frame false-alarm rate (default: config calibration.fpr)")
    p.add_argument(
        "--confidence",
        type=float,
        help="confidence that the true rate is below target (default: config calibration.confidence)",
    )
    p.add_argument(
        "--method",
        choices=("binomial_bound", "empirical_quantile"),
        help="threshold method (default: config calibration.method)",
    )
    add_device_option(p)
    add_wire_options(p)
    p.add_argument(
        "--allow-unsupported",
        action="store_true",
        help="write the file even if the clean frames cannot support the target",
    )
    add_subset_args(p)
    p.add_argument("--out", required=True, help="calibration YAML to write")
    p.set_defaults(func=cmd_calibrate)
