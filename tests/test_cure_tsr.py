"""CURE-TSR names, the layout reader (on a set built from real crops), image folders and track splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from monitor.challenges import build_challenge_set
from monitor.cure_tsr import (
    CHALLENGE_TYPES,
    SIGN_TYPES,
    CureName,
    challenge_code,
    challenge_folder,
    clean_frames,
    format_name,
    group_sequences,
    list_images,
    load_image,
    parse_folder,
    parse_name,
    read_cure_tsr,
    read_manifest,
    sign_code,
    split_by_track,
    track_of,
    training_images,
)
from monitor.preprocess import ImageError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real sign crops not found at {DATA}")

# Two real tracks of three frames each (class 00000, tracks 00017 and 00021).
TRACK_FILES = [f"00000/{t}_{f:05d}.png" for t in ("00017", "00021") for f in range(3)]


# ---------------------------------------------------------------------------------------------
# Names


def test_name_round_trip_over_every_code():
    for seq in (1, 2):
        for sign in SIGN_TYPES:
            for ct in CHALLENGE_TYPES:
                for level in (0,) if ct == 0 else (1, 2, 3, 4, 5):
                    for index in (0, 1, 37, 9999):
                        text = format_name(seq, sign, ct, level, index)
                        name = parse_name(text)
                        assert name == CureName(seq, sign, ct, level, index)
                        assert name.filename == text


def test_name_properties():
    n = parse_name("Real_Train/CodecError-1/01_06_03_01_0001.bmp")
    assert n == CureName(1, 6, 3, 1, 1)
    assert (n.sequence_name, n.sign_name, n.challenge_name, n.folder) == ("real", "stop", "CodecError", "CodecError-1")
    free = parse_name("02_13_00_00_0420.bmp")
    assert (free.sequence_name, free.sign_name, free.challenge_name, free.folder) == (
        "unreal",
        "yield",
        "ChallengeFree",
        "ChallengeFree",
    )


@pytest.mark.parametrize(
    "name, fault",
    [
        ("01_06_13_01_0001.bmp", "challenge type 13 is not a CURE-TSR challenge (00-12)"),
        ("01_06_03_01.bmp", "4 underscore-separated fields, expected 5"),
        ("01_06_03_01_0001_7.bmp", "6 underscore-separated fields, expected 5"),
        ("01_06_0x_01_0001.bmp", "challenge type '0x' is not 2 digits"),
        ("1_06_03_01_0001.bmp", "sequence type '1' is not 2 digits"),
        ("01_06_03_01_001.bmp", "index '001' is not 4 digits"),
        ("03_06_03_01_0001.bmp", "sequence type 03 is not 01 (real) or 02 (unreal)"),
        ("01_15_03_01_0001.bmp", "sign type 15 is not a CURE-TSR sign type (01-14)"),
        ("01_00_03_01_0001.bmp", "sign type 00 is not a CURE-TSR sign type"),
        ("01_06_00_01_0001.bmp", "challenge-free must have level 00"),
        ("01_06_03_00_0001.bmp", "challenge level 00 is not 01-05 for CodecError"),
        ("01_06_09_06_0001.bmp", "challenge level 06 is not 01-05 for Rain"),
        ("01_06_03_01_0001.txt", "extension .txt is not an image type"),
        ("01_06_03_01_0001", "no file extension"),
        ("01_06_03_01_٠٠٠١.bmp", "index '٠٠٠١' is not 4 digits"),  # Arabic-Indic digits are not ours
    ],
)
def test_malformed_names_give_one_clear_line(name, fault):
    with pytest.raises(ValueError) as err:
        parse_name(name)
    message = str(err.value)
    assert message.startswith(Path(name).name + ":"), message
    assert fault in message
    assert "\n" not in message


def test_format_name_refuses_codes_the_data_set_does_not_use():
    with pytest.raises(ValueError, match="challenge type 13"):
        format_name(1, 6, 13, 1, 1)
    with pytest.raises(ValueError, match="index 10000"):
        format_name(1, 6, 3, 1, 10000)


def test_challenge_and_sign_lookups():
    assert challenge_code("rain") == challenge_code("Rain") == challenge_code("RAIN") == challenge_code(9) == 9
    assert challenge_code("lens_blur") == challenge_code("LensBlur") == challenge_code("lens-blur") == 2
    assert challenge_code("dirty lens") == 5
    assert challenge_code("ChallengeFree") == challenge_code("none") == 0
    assert challenge_code("09") == 9
    for bad in ("fog", 13, -1, True, 2.0):
        with pytest.raises(ValueError):
            challenge_code(bad)
    assert sign_code("stop") == sign_code("STOP") == sign_code(6) == 6
    assert sign_code("no_entry") == 12
    with pytest.raises(ValueError):
        sign_code("speed bump")


def test_folder_names():
    assert challenge_folder("rain", 3) == "Rain-3"
    assert challenge_folder(0) == "ChallengeFree"
    assert parse_folder("CodecError-1") == (3, 1)
    assert parse_folder("ChallengeFree") == (0, 0)
    for not_a_folder in ("Rain-6", "Rain", "Fog-1", "ChallengeFree-1", "Real_Train"):
        assert parse_folder(not_a_folder) is None
    with pytest.raises(ValueError):
        challenge_folder("rain", 0)


# ---------------------------------------------------------------------------------------------
# The reader, on a tiny set built from real crops


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real sign crops not found at {DATA}")
    out = tmp_path_factory.mktemp("cure") / "set"
    build_challenge_set(
        [DATA / f for f in TRACK_FILES], out, challenges=["rain", "codec_error"], levels=(1, 3), seed=3, workers=1
    )
    return out


def test_reader_reads_back_a_built_set(built):
    frames = read_cure_tsr(built)
    assert len(frames) == 6 * (1 + 2 * 2)
    assert {f.split for f in frames} == {"Real_Test"}
    assert {f.folder for f in frames} == {"ChallengeFree", "Rain-1", "Rain-3", "CodecError-1", "CodecError-3"}
    assert {f.sequence for f in frames} == {"00000/00017", "00000/00021"}  # from manifest.csv
    assert all(f.path.suffix == ".bmp" and f.path.is_file() for f in frames)
    assert all(f.name == parse_name(f.path.name) for f in frames)
    assert len({f.name.sign_type for f in frames}) == 1  # one class -> one stable sign type


def test_reader_filters(built):
    rain3 = read_cure_tsr(built, challenge_types=["rain"], levels=[3])
    assert len(rain3) == 6 and {f.folder for f in rain3} == {"Rain-3"}
    assert len(read_cure_tsr(built, challenge_types=[9, "CodecError"])) == 24
    assert len(read_cure_tsr(built, levels=[1])) == 12
    assert len(clean_frames(built)) == 6
    sign = read_cure_tsr(built)[0].name.sign_type
    assert len(read_cure_tsr(built, sign_types=[sign])) == 30
    assert read_cure_tsr(built, sign_types=[sign % 14 + 1]) == []
    assert len(read_cure_tsr(built, splits=["real_test"])) == 30
    assert read_cure_tsr(built, splits=["Real_Train"]) == []


def test_sequences_in_order_and_tracks_preserved(built):
    groups = group_sequences(read_cure_tsr(built))
    assert len(groups) == 2 * 5  # two tracks in five folders
    sources = {file: Path(row["source"]) for file, row in read_manifest(built / "manifest.csv").items()}
    for key, frames in groups.items():
        assert len(frames) == 3
        idx = [f.name.index for f in frames]
        assert idx == list(range(idx[0], idx[0] + 3)), key  # a track's frames are consecutive
        srcs = [sources[f.path.relative_to(built).as_posix()] for f in frames]
        assert len({track_of(s) for s in srcs}) == 1
        assert track_of(srcs[0]) == frames[0].sequence
        assert [s.name for s in srcs] == sorted(s.name for s in srcs)  # index order == frame order


def test_index_runs_recover_tracks_without_manifest(built, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "manifest.csv").unlink()
    with_manifest = group_sequences(read_cure_tsr(built))
    without = group_sequences(read_cure_tsr(copy))
    as_sets = lambda groups: sorted(sorted(f.path.name for f in fs) for fs in groups.values())  # noqa: E731
    assert as_sets(with_manifest) == as_sets(without)
    assert all(f.sequence.count("_") == 1 for fs in without.values() for f in fs)  # "<sign>_<first index>"


def test_reader_accepts_a_split_or_challenge_folder_as_root(built):
    assert len(read_cure_tsr(built / "Real_Test")) == 30
    one = read_cure_tsr(built / "Real_Test" / "Rain-3")
    assert len(one) == 6 and {f.split for f in one} == {"Real_Test"}
    assert {f.sequence for f in one} == {"00000/00017", "00000/00021"}  # manifest found above the root
    with pytest.raises(ValueError, match="no CURE-TSR layout"):
        read_cure_tsr(DATA)


def test_malformed_and_misplaced_files(built, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    rain = copy / "Real_Test" / "Rain-1"
    (rain / "notes.txt").write_text("not an image, ignored")
    shutil.copy(next(rain.glob("*.bmp")), rain / "01_06_09_01.bmp")
    with pytest.raises(ValueError, match=r"Rain-1/01_06_09_01\.bmp: 4 underscore-separated fields"):
        read_cure_tsr(copy, strict=True)
    with pytest.warns(UserWarning, match=r"01_06_09_01\.bmp.*skipped"):
        frames = read_cure_tsr(copy)
    assert len(frames) == 30
    (rain / "01_06_09_01.bmp").unlink()
    shutil.copy(next(rain.glob("*.bmp")), rain / "01_06_11_01_0001.bmp")  # a Snow-1 name in Rain-1
    with pytest.raises(ValueError, match="name says Snow-1 but the file is in Rain-1"):
        read_cure_tsr(copy, strict=True)


def test_load_image(built, tmp_path):
    img = load_image(read_cure_tsr(built)[0].path)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ImageError, match="broken.png: not a readable image"):
        load_image(bad)
    with pytest.raises(FileNotFoundError, match="missing.bmp"):
        load_image(tmp_path / "missing.bmp")


# ---------------------------------------------------------------------------------------------
# Image folders and track-wise splits


@needs_data
def test_list_images_and_track_of():
    paths = list_images(DATA)
    assert len(paths) == 1236 and paths == sorted(paths)
    assert all(p.suffix == ".png" for p in paths)  # README.md is skipped
    assert track_of(DATA / "00000" / "00017_00001.png") == "00000/00017"
    with pytest.raises(ValueError, match="01_06_00_00_0001.bmp"):
        track_of("x/01_06_00_00_0001.bmp")


@needs_data
def test_split_by_track_never_splits_a_track():
    paths = list_images(DATA)
    for seed in range(5):
        train, test = split_by_track(paths, 0.25, seed)
        assert sorted(train + test) == paths
        assert not {track_of(p) for p in train} & {track_of(p) for p in test}
        n_tracks = len({track_of(p) for p in paths})
        assert len({track_of(p) for p in test}) == round(0.25 * n_tracks)
    again = split_by_track(list(reversed(paths)), 0.25, 4)
    assert again == (train, test)  # deterministic and independent of input order
    assert split_by_track(paths, 0.25, 5) != (train, test)
    assert split_by_track(paths, 0.0, 1)[1] == [] and split_by_track(paths, 1.0, 1)[0] == []
    with pytest.raises(ValueError):
        split_by_track(paths, 1.5)


@needs_data
def test_training_images_groups(built, tmp_path):
    real = training_images(DATA)
    assert len(real) == 1236 and all(g == track_of(p) for p, g in real)
    cure = training_images(built)
    assert len(cure) == 6 and all("ChallengeFree" in str(p) for p, _ in cure)
    assert {g for _, g in cure} == {"Real_Test/00000/00017", "Real_Test/00000/00021"}
    plain = tmp_path / "plain" / "cam7"
    plain.mkdir(parents=True)
    shutil.copy(DATA / TRACK_FILES[0], plain / "a.png")
    shutil.copy(DATA / TRACK_FILES[1], plain / "b.png")
    assert training_images(tmp_path / "plain") == [(plain / "a.png", "cam7"), (plain / "b.png", "cam7")]


def test_one_table_gives_every_spelling_of_a_challenge():
    from calibration.conditions import CONDITION_OF_CODE
    from monitor.challenge_types import CHALLENGE_TABLE, challenge_code, challenge_of
    from pipelines.wire import CHALLENGE_NAMES

    assert [c.code for c in CHALLENGE_TABLE] == list(range(13))
    for c in CHALLENGE_TABLE:
        assert CHALLENGE_TYPES[c.code] == c.folder
        assert CHALLENGE_NAMES[c.code] == c.wire
        assert CONDITION_OF_CODE[c.code] == c.condition
        # every folder and wire spelling names its own code
        assert challenge_code(c.folder) == challenge_code(c.wire) == c.code
    assert challenge_of("lens_blur").condition == challenge_of("GaussianBlur").condition == "blur"
