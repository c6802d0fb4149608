"""The search space: Table 9 op sets, width choices, and the TF-NAS macro-architecture at 96 and 32 px."""
import pytest

from trainables.nas.macro import Macro
from trainables.nas.ops import NOMINAL_INDEX, OP_SETS, OPS, op_set, se_channels, width_choices

TABLE9 = [  # name, kernel, expansion, SE, in 4 / 6 / 8
    ("MB-k3-e3", 3, 3, False, True, True, True),
    ("MB-k3-e6", 3, 6, False, True, True, True),
    ("MB-k5-e3", 5, 3, False, True, True, True),
    ("MB-k5-e6", 5, 6, False, True, True, True),
    ("MB-k3-e3-se", 3, 3, True, False, True, True),
    ("MB-k3-e6-se", 3, 6, True, False, True, True),
    ("MB-k5-e3-se", 5, 3, True, False, False, True),
    ("MB-k5-e6-se", 5, 6, True, False, False, True),
]


def test_ops_are_table9_in_order():
    assert [(op.name, op.kernel, op.expansion, op.se) for op in OPS] == [row[:4] for row in TABLE9]


@pytest.mark.parametrize("size,column", [(4, 4), (6, 5), (8, 6)])
def test_op_sets_contain_exactly_the_table9_ops(size, column):
    expected = [row[0] for row in TABLE9 if row[column]]
    assert [op.name for op in op_set(size)] == expected == list(OP_SETS[size])


def test_unknown_op_set():
    with pytest.raises(ValueError, match=r"unknown op_set 5; choose one of \[4, 6, 8\]"):
        op_set(5)


@pytest.mark.parametrize("name,c_in,expected", [("MB-k3-e3", 16, (32, 40, 48, 56, 64)),
                                                ("MB-k5-e6", 16, (64, 80, 96, 112, 128))])
def test_width_choices_span_half_max_to_four_thirds_nominal(name, c_in, expected):
    op = next(o for o in OPS if o.name == name)
    choices = width_choices(op, c_in)
    assert choices == expected
    assert choices[NOMINAL_INDEX] == op.expansion * c_in and choices[0] == choices[-1] // 2


def test_se_width_is_a_third_of_nominal_mid():
    assert [se_channels(op, 24) for op in OPS] == [0, 0, 0, 0, 24, 48, 24, 48]


def test_macro_at_96px_is_tfnas_with_the_notes_resolutions():
    m = Macro.build((3, 96, 96), 10, 1.0)
    assert m.strides == (2, 2, 2, 2, 1, 2, 1)
    assert (m.stem, m.stem2, m.stem2_se, m.head) == (32, 16, 8, 1280)
    assert m.stage_channels == (24, 40, 80, 112, 192, 320) and m.stage_blocks == (2, 3, 4, 4, 4, 1)
    assert m.stage_acts == ("relu",) + ("swish",) * 5
    assert m.feature_points() == [(16, 48), (24, 24), (40, 12), (80, 6), (112, 6), (192, 3), (320, 3)]
    skips = [m.feature_points()[i] for i in m.skip_indices()]
    assert skips == [(16, 48), (24, 24), (40, 12), (112, 6), (320, 3)]  # docs/paper.md §3.5 decoder inputs
    assert sum(len(s) for s in m.slots()) == 18


def test_macro_at_32px_keeps_the_stem_at_full_resolution():
    m = Macro.build((1, 32, 32), 10, 0.25)
    assert m.strides == (1, 2, 2, 2, 1, 2, 1)
    assert [size for _, size in m.feature_points()] == [32, 16, 8, 4, 4, 2, 2]
    assert all(c % 4 == 0 for c in m.stage_channels)


def test_macro_rejects_sizes_the_decoder_cannot_restore():
    with pytest.raises(ValueError, match=r"input size 28 is not divisible by the encoder.s down-sampling factor 8.*image_size=32"):
        Macro.build((1, 28, 28), 10)
    with pytest.raises(ValueError, match="square"):
        Macro.build((1, 32, 48), 10)


def test_block_ranges_number_the_stages_blocks_in_alpha_row_order():
    """TF-NAS's 2/3/4/4/4/1 blocks, counted by hand: stage s owns alpha rows [first, first + blocks)."""
    ranges = Macro.build((3, 96, 96), 10, 1.0).block_ranges()
    assert [(r.start, r.stop) for r in ranges] == [(0, 2), (2, 5), (5, 9), (9, 13), (13, 17), (17, 18)]
