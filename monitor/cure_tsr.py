"""CURE-TSR file names and folder layout, sign sequences, plain image folders, track-wise splits.

CURE-TSR (docs/DESIGN.md §3) names every crop `sequenceType_signType_challengeType_challengeLevel_Index.bmp`
(two digits per field, four for the index) and stores it under `<Split>/<ChallengeFolder>/`, e.g.
`Real_Train/ChallengeFree/01_06_00_00_0001.bmp` or `Real_Test/CodecError-1/01_06_03_01_0001.bmp`.

Sequences. A crop belongs to a sequence: the frames of one physical sign in consecutive video frames.
They are nearly the same image, so they must never be split between training and test data.
- Sets built by `monitor.challenges.build_challenge_set` carry a `manifest.csv` at their root that
  names each file's source class and track; the reader takes the sequence from it
  ("<class>/<track>", the same string `track_of` gives for the source image).
- Without a manifest the sequence is derived from index runs: within one folder and sign type,
  frames sorted by index form one sequence as long as each index is the previous one plus 1; a gap
  starts a new sequence. The id is "<sign type>_<first index>" (e.g. "06_0001"), the same in every
  challenge folder of a split because CURE-TSR gives a frame the same index in all of them. The
  published data set numbers frames without gaps between tracks, so there a run can hold several
  tracks: the rule then errs towards grouping too much, which is the safe side for splits.

Plain folders: BelgiumTSC-style crops are named `<class>/<track>_<frame>.png`; `track_of` gives
"<class>/<track>" and `split_by_track` splits whole tracks.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from monitor.challenge_types import FOLDER_NAMES, challenge_code, squash
from monitor.codec import CodecError, WireEncoding
from monitor.preprocess import ImageError

SEQUENCE_TYPES: dict[int, str] = {1: "real", 2: "unreal"}

SIGN_TYPES: dict[int, str] = {
    1: "speed_limit",
    2: "goods_vehicles",
    3: "no_overtaking",
    4: "no_stopping",
    5: "no_parking",
    6: "stop",
    7: "bicycle",
    8: "hump",
    9: "no_left",
    10: "no_right",
    11: "priority_to",
    12: "no_entry",
    13: "yield",
    14: "parking",
}

# Code -> the folder spelling ("LensBlur"): a view of monitor.challenge_types.CHALLENGE_TABLE.
CHALLENGE_TYPES: dict[int, str] = FOLDER_NAMES

LEVELS = (1, 2, 3, 4, 5)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm"})
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("file", "source", "class", "track", "challenge", "level")
# Optional column (manifests written before it lack it): the wire encoding synth applied before
# writing the lossless file, as monitor.codec.WireEncoding.describe() spells it.
MANIFEST_WIRE = "wire"

_FIELD_NAMES = ("sequence type", "sign type", "challenge type", "challenge level", "index")
_FIELD_WIDTHS = (2, 2, 2, 2, 4)
_SPLIT_RE = re.compile(r"^(Real|Unreal)_(Train|Test)$", re.IGNORECASE)
_FOLDER_RE = re.compile(r"^([A-Za-z]+)-(\d+)$")
_TRACK_RE = re.compile(r"^(\d+)_(\d+)$")  # BelgiumTSC: <track>_<frame>


_SIGN_BY_KEY = {squash(v): k for k, v in SIGN_TYPES.items()}


def sign_code(sign: str | int) -> int:
    """Sign type name ('stop', 'no_entry') or code -> code 1..14."""
    if isinstance(sign, (int, np.integer)) and not isinstance(sign, bool):
        if int(sign) in SIGN_TYPES:
            return int(sign)
        raise ValueError(f"sign type {sign} is not a CURE-TSR sign type (1-14)")
    if isinstance(sign, str):
        key = squash(sign)
        if key.isdigit() and int(key) in SIGN_TYPES:
            return int(key)
        if key in _SIGN_BY_KEY:
            return _SIGN_BY_KEY[key]
        raise ValueError(f"unknown sign type {sign!r}; expected one of {', '.join(SIGN_TYPES.values())} or 1-14")
    raise ValueError(f"sign type must be a name or a code, not {type(sign).__name__}")


def _code_problem(sequence_type: int, sign_type: int, challenge_type: int, level: int, index: int) -> str | None:
    """What is wrong with these codes, or None when they name a valid CURE-TSR frame."""
    if sequence_type not in SEQUENCE_TYPES:
        return f"sequence type {sequence_type:02d} is not 01 (real) or 02 (unreal)"
    if sign_type not in SIGN_TYPES:
        return f"sign type {sign_type:02d} is not a CURE-TSR sign type (01-14)"
    if challenge_type not in CHALLENGE_TYPES:
        return f"challenge type {challenge_type:02d} is not a CURE-TSR challenge (00-12)"
    if challenge_type == 0 and level != 0:
        return f"challenge level {level:02d} with challenge type 00 (challenge-free must have level 00)"
    if challenge_type != 0 and level not in LEVELS:
        return f"challenge level {level:02d} is not 01-05 for {CHALLENGE_TYPES[challenge_type]}"
    if not 0 <= index <= 9999:
        return f"index {index} does not fit four digits"
    return None


class CureName(NamedTuple):
    """The five codes of a CURE-TSR file name."""

    sequence_type: int
    sign_type: int
    challenge_type: int
    level: int
    index: int

    @property
    def sequence_name(self) -> str:
        return SEQUENCE_TYPES[self.sequence_type]

    @property
    def sign_name(self) -> str:
        return SIGN_TYPES[self.sign_type]

    @property
    def challenge_name(self) -> str:
        return CHALLENGE_TYPES[self.challenge_type]

    @property
    def folder(self) -> str:
        """The challenge folder the data set stores this frame in: 'ChallengeFree' or 'Rain-3'."""
        return challenge_folder(self.challenge_type, self.level)

    @property
    def filename(self) -> str:
        return format_name(*self)


def format_name(
    sequence_type: int, sign_type: int, challenge_type: int, level: int, index: int, suffix: str = ".bmp"
) -> str:
    """Codes -> '01_06_03_01_0001.bmp'; ValueError for codes the data set does not use."""
    problem = _code_problem(sequence_type, sign_type, challenge_type, level, index)
    if problem:
        raise ValueError(f"cannot name a CURE-TSR frame: {problem}")
    return f"{sequence_type:02d}_{sign_type:02d}_{challenge_type:02d}_{level:02d}_{index:04d}{suffix}"


def parse_name(name: str | Path) -> CureName:
    """'01_06_03_01_0001.bmp' (or a path to it) -> CureName; ValueError naming the file and the fault."""
    base = Path(name).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        raise ValueError(f"{base}: no file extension; expected a CURE-TSR image name like 01_06_03_01_0001.bmp")
    if "." + suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{base}: extension .{suffix} is not an image type ({', '.join(sorted(IMAGE_SUFFIXES))})")
    fields = stem.split("_")
    if len(fields) != 5:
        raise ValueError(
            f"{base}: {len(fields)} underscore-separated fields, expected 5 "
            "(sequenceType_signType_challengeType_challengeLevel_Index)"
        )
    codes = []
    for text, what, width in zip(fields, _FIELD_NAMES, _FIELD_WIDTHS, strict=False):
        if not (text.isascii() and text.isdigit()) or len(text) != width:
            raise ValueError(f"{base}: {what} {text!r} is not {width} digits")
        codes.append(int(text))
    problem = _code_problem(*codes)
    if problem:
        raise ValueError(f"{base}: {problem}")
    return CureName(*codes)


def challenge_folder(challenge: str | int, level: int = 0) -> str:
    """(challenge, level) -> the data set's folder name: 'ChallengeFree', 'CodecError-1'."""
    code = challenge_code(challenge)
    if code == 0:
        return CHALLENGE_TYPES[0]
    if level not in LEVELS:
        raise ValueError(f"challenge level {level} is not 1-5 for {CHALLENGE_TYPES[code]}")
    return f"{CHALLENGE_TYPES[code]}-{level}"


def parse_folder(name: str) -> tuple[int, int] | None:
    """'Rain-3' -> (9, 3), 'ChallengeFree' -> (0, 0); None when the name is not a challenge folder."""
    if squash(name) == "challengefree":
        return 0, 0
    m = _FOLDER_RE.match(name)
    if not m:
        return None
    key, level = squash(m.group(1)), int(m.group(2))
    try:
        code = challenge_code(key)
    except ValueError:
        return None
    if not code or level not in LEVELS:
        return None
    return code, level


def is_split_name(name: str) -> bool:
    """True for Real_Train, Real_Test, Unreal_Train, Unreal_Test."""
    return bool(_SPLIT_RE.match(name))


# ---------------------------------------------------------------------------------------------
# The layout reader


@dataclass(frozen=True)
class CureFrame:
    """One crop of a CURE-TSR layout."""

    path: Path
    name: CureName
    split: str  # e.g. "Real_Train"; "" when the folder read had no split folder above it
    sequence: str  # see the module docstring: manifest "<class>/<track>" or "<sign>_<first index>"

    @property
    def folder(self) -> str:
        return self.name.folder


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def _challenge_dirs(d: Path) -> list[Path]:
    return sorted(c for c in d.iterdir() if c.is_dir() and parse_folder(c.name) is not None)


def _layout(root: Path) -> list[tuple[str, Path]]:
    """(split, challenge folder) pairs under root: a data set root, one split folder or one challenge folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    if parse_folder(root.name) is not None:
        split = root.parent.name if is_split_name(root.parent.name) else ""
        return [(split, root)]
    direct = _challenge_dirs(root)
    if direct:
        return [(root.name, d) for d in direct]
    found = []
    for child in sorted(c for c in root.iterdir() if c.is_dir()):
        found += [(child.name, d) for d in _challenge_dirs(child)]
    if not found:
        raise ValueError(
            f"{root}: no CURE-TSR layout (expected <Split>/ChallengeFree or <Split>/<Challenge>-<level> "
            "folders, e.g. Real_Train/Rain-3)"
        )
    return found


def is_cure_layout(root: str | Path) -> bool:
    """True when root is a CURE-TSR data set root, split folder or challenge folder."""
    try:
        _layout(Path(root))
    except (ValueError, FileNotFoundError):
        return False
    return True


def _find_manifest(root: Path) -> Path | None:
    """The builder's manifest.csv at root or up to two levels above (root may be a split or challenge folder)."""
    for d in (root, root.parent, root.parent.parent):
        if (d / MANIFEST_NAME).is_file():
            return d / MANIFEST_NAME
    return None


def read_manifest(path: str | Path) -> dict[str, dict[str, str]]:
    """manifest.csv -> {file (relative posix path): row}."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(MANIFEST_FIELDS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: manifest lacks columns {', '.join(sorted(missing))}")
        return {row["file"]: row for row in reader}


def recorded_wire(root: str | Path) -> WireEncoding | None:
    """The wire encoding a built set's frames went through (its manifest's wire column); None when
    there is no manifest or it predates the column (frames then lie as they were rendered)."""
    path = _find_manifest(Path(root))
    if path is None:
        return None
    values = {row.get(MANIFEST_WIRE) or "" for row in read_manifest(path).values()}
    if values <= {""}:
        return None
    if len(values) > 1:
        raise ValueError(f"{path}: rows name several wire encodings ({', '.join(sorted(values))}); expected one")
    try:
        return WireEncoding.parse(values.pop())
    except CodecError as e:
        raise ValueError(f"{path}: {e}") from None


def _index_run_ids(names: Sequence[CureName]) -> list[str]:
    """Sequence id per name by the index-run rule (see module docstring); names of one folder."""
    order = sorted(range(len(names)), key=lambda i: (names[i].sign_type, names[i].index))
    ids = [""] * len(names)
    prev: CureName | None = None
    current = ""
    for i in order:
        n = names[i]
        if prev is None or n.sign_type != prev.sign_type or n.index != prev.index + 1:
            current = f"{n.sign_type:02d}_{n.index:04d}"
        ids[i] = current
        prev = n
    return ids


def _bad_entry(message: str, strict: bool) -> None:
    if strict:
        raise ValueError(message)
    warnings.warn(message + " (skipped)", stacklevel=3)


def read_cure_tsr(
    root: str | Path,
    challenge_types: Iterable[str | int] | None = None,
    levels: Iterable[int] | None = None,
    sign_types: Iterable[str | int] | None = None,
    splits: Iterable[str] | None = None,
    strict: bool = False,
) -> list[CureFrame]:
    """Every image of a CURE-TSR layout under root, filtered, sorted by (split, folder, sign, index).

    A file whose name is not a CURE-TSR name, or whose codes disagree with its folder, raises
    ValueError when strict, otherwise is skipped with a warning. Non-image files are ignored.
    """
    root = Path(root)
    want_ct = None if challenge_types is None else {challenge_code(c) for c in challenge_types}
    want_lv = None if levels is None else {int(v) for v in levels}
    want_sign = None if sign_types is None else {sign_code(s) for s in sign_types}
    want_split = None if splits is None else {s.lower() for s in splits}
    manifest_path = _find_manifest(root)
    manifest = read_manifest(manifest_path) if manifest_path else {}
    frames: list[CureFrame] = []
    for split, folder in _layout(root):
        ct, lv = parse_folder(folder.name)  # type: ignore[misc]  # _layout only returns parseable folders
        if want_split is not None and split.lower() not in want_split:
            continue
        if want_ct is not None and ct not in want_ct:
            continue
        if want_lv is not None and lv not in want_lv:
            continue
        paths, names = [], []
        for p in sorted(folder.iterdir()):
            if not _is_image(p):
                continue
            try:
                n = parse_name(p.name)
            except ValueError as e:
                _bad_entry(f"{folder.name}/{e}", strict)
                continue
            if (n.challenge_type, n.level) != (ct, lv):
                _bad_entry(f"{folder.name}/{p.name}: name says {n.folder} but the file is in {folder.name}", strict)
                continue
            paths.append(p)
            names.append(n)
        run_ids = _index_run_ids(names)
        for p, n, run_id in zip(paths, names, run_ids, strict=False):
            if want_sign is not None and n.sign_type not in want_sign:
                continue
            sequence = run_id
            if manifest_path is not None:
                row = manifest.get(p.relative_to(manifest_path.parent).as_posix())
                if row is not None:
                    sequence = f"{row['class']}/{row['track']}"
            frames.append(CureFrame(p, n, split, sequence))
    frames.sort(key=lambda f: (f.split, f.name.challenge_type, f.name.level, f.name.sign_type, f.name.index))
    return frames


def group_sequences(frames: Iterable[CureFrame]) -> dict[str, list[CureFrame]]:
    """Frames -> {"<split>/<folder>/<sign>/<sequence>": frames in index order}, keys sorted."""
    groups: dict[str, list[CureFrame]] = {}
    for f in frames:
        key = f"{f.split}/{f.folder}/{f.name.sign_type:02d}/{f.sequence}"
        groups.setdefault(key, []).append(f)
    return {k: sorted(groups[k], key=lambda f: f.name.index) for k in sorted(groups)}


def clean_frames(root: str | Path, splits: Iterable[str] | None = None) -> list[CureFrame]:
    """The ChallengeFree frames of a CURE-TSR layout (the inliers to train on)."""
    return read_cure_tsr(root, challenge_types=[0], splits=splits)


def load_image(path: str | Path) -> np.ndarray:
    """Image file -> uint8 BGR (H, W, 3); FileNotFoundError / ImageError (a ValueError) with the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    # np.fromfile + imdecode instead of cv2.imread: imread returns None silently and fails on
    # non-ASCII paths on some platforms.
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ImageError(f"{path}: not a readable image ({data.size} bytes)")
    return img


# ---------------------------------------------------------------------------------------------
# Plain image folders and track-wise splits


def list_images(root: str | Path) -> list[Path]:
    """Every image file under root (recursive, hidden entries skipped), sorted; root may be one image."""
    root = Path(root)
    if root.is_file():
        return [root] if root.suffix.lower() in IMAGE_SUFFIXES else []
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel):
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            out.append(p)
    return sorted(out)


def is_track_name(path: str | Path) -> bool:
    """True for BelgiumTSC-style names '<track>_<frame>.<ext>'."""
    return bool(_TRACK_RE.match(Path(path).stem))


def track_of(path: str | Path) -> str:
    """'.../00000/00017_00001.png' -> '00000/00017' (class folder / track); ValueError for other names."""
    p = Path(path)
    m = _TRACK_RE.match(p.stem)
    if not m:
        raise ValueError(f"{p.name}: not a '<track>_<frame>' image name, so its track is unknown")
    return f"{p.parent.name}/{m.group(1)}"


def split_by_track(
    paths: Iterable[str | Path],
    test_fraction: float,
    seed: int = 0,
    group: Callable[[Path], str] = track_of,
) -> tuple[list[Path], list[Path]]:
    """Split whole tracks: about test_fraction of the tracks go to test; deterministic for a seed.

    Independent of the input order. With at least two tracks and 0 < test_fraction < 1 both
    sides get at least one track.
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction {test_fraction} is not in [0, 1]")
    by_group: dict[str, list[Path]] = {}
    for p in map(Path, paths):
        by_group.setdefault(group(p), []).append(p)
    keys = sorted(by_group)
    n_test = int(round(test_fraction * len(keys)))
    if 0.0 < test_fraction < 1.0 and len(keys) >= 2:
        n_test = min(max(n_test, 1), len(keys) - 1)
    order = np.random.default_rng(seed).permutation(len(keys))
    test_keys = {keys[i] for i in order[:n_test]}
    train = sorted(p for k in keys if k not in test_keys for p in by_group[k])
    test = sorted(p for k in test_keys for p in by_group[k])
    return train, test


def group_of(path: str | Path, root: str | Path | None = None) -> str:
    """Group id of a plain image: its track for '<track>_<frame>' names, else its parent folder."""
    p = Path(path)
    if is_track_name(p):
        return track_of(p)
    if root is not None:
        try:
            rel = p.parent.relative_to(Path(root)).as_posix()
            return rel if rel != "." else p.parent.name
        except ValueError:
            pass
    return p.parent.name


def training_images(root: str | Path) -> list[tuple[Path, str]]:
    """(path, group id) of the clean images to train on; frames of one group must stay on one side.

    A CURE-TSR layout gives its ChallengeFree frames, grouped by "<split>/<sequence>"; any other
    folder gives every image under it, grouped by track ('<track>_<frame>' names) or parent folder.
    """
    root = Path(root)
    if root.is_dir() and is_cure_layout(root):
        return [(f.path, f"{f.split}/{f.sequence}" if f.split else f.sequence) for f in clean_frames(root)]
    return [(p, group_of(p, root)) for p in list_images(root)]
