import numpy as np
import pytest

from simplepose.pose.codec import DECODE_METHODS, HeatmapCodec, dark_blur_kernel, flip_back
from simplepose.pose.keypoints import COCO17


@pytest.fixture
def codec():
    return HeatmapCodec((192, 256), (48, 64), sigma=2.0)


@pytest.fixture
def unbiased():
    return HeatmapCodec((192, 256), (48, 64), sigma=2.0, unbiased=True)


def test_reference_encoder_exact_values(codec):
    heatmaps, weights = codec.encode(np.array([[[8.0, 9.9]]]), np.ones((1, 1)))
    assert heatmaps.shape == (1, 1, 64, 48) and heatmaps.dtype == np.float32
    hm = heatmaps[0, 0]
    # mu = int(8/4 + 0.5) = 2, int(9.9/4 + 0.5) = 2
    assert hm[2, 2] == 1.0
    assert hm[2, 3] == pytest.approx(np.exp(-1 / 8))
    assert hm[4, 4] == pytest.approx(np.exp(-8 / 8))
    assert hm[2, 8] == pytest.approx(np.exp(-36 / 8))  # |dx| = 6 = 3 sigma: inside the window
    assert hm[2, 9] == 0.0  # outside the +-3 sigma window
    assert weights[0, 0] == 1.0


def test_encoder_weights_invisible_and_far_outside(codec):
    kps = np.array([[[50.0, 50.0], [50.0, 50.0], [-40.0, 10.0], [10.0, 300.0], [-20.0, 10.0]]])
    heatmaps, weights = codec.encode(kps, np.array([[2, 0, 1, 1, 1]]))
    # joint 4 is 5 heatmap px left of the border: its window still reaches inside
    np.testing.assert_array_equal(weights, [[1, 0, 0, 0, 1]])
    assert heatmaps[0, 1].max() == 0 and heatmaps[0, 2].max() == 0
    assert heatmaps[0, 4, :, 0].max() > 0


def test_encode_empty_batch_and_bad_shape(codec):
    heatmaps, weights = codec.encode(np.zeros((0, 17, 2)), np.zeros((0, 17)))
    assert heatmaps.shape == (0, 17, 64, 48) and weights.shape == (0, 17)
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        codec.encode(np.zeros((17, 2)), np.zeros(17))


def test_unbiased_encoder_centre_is_subpixel(unbiased):
    heatmaps, _ = unbiased.encode(np.array([[[10.0, 6.0]]]), np.ones((1, 1)))
    hm = heatmaps[0, 0]  # mu = (2.5, 1.5): four equal maxima
    assert hm[1, 2] == pytest.approx(hm[2, 3]) == pytest.approx(np.exp(-0.5 / 8))


def test_decode_argmax_and_quarter_hand_example(codec):
    hm = np.zeros((1, 2, 64, 48), np.float32)
    hm[0, 0, 10, 20] = 0.9
    hm[0, 0, 10, 21] = 0.5  # right neighbour higher than left (0): +0.25 in x
    hm[0, 0, 9, 20] = 0.4  # upper neighbour higher: -0.25 in y
    hm[0, 1, 0, 5] = 0.7  # on the border row: quarter leaves it alone
    coords, scores = codec.decode(hm, "argmax")
    np.testing.assert_array_equal(coords[0], [[20, 10], [5, 0]])
    np.testing.assert_allclose(scores[0], [0.9, 0.7], rtol=1e-6)
    coords, _ = codec.decode(hm, "quarter")
    np.testing.assert_array_equal(coords[0], [[20.25, 9.75], [5, 0]])


@pytest.mark.parametrize("method", DECODE_METHODS)
def test_all_zero_and_negative_heatmaps_give_zero(codec, method):
    hm = np.zeros((2, 17, 64, 48), np.float32)
    hm[1] = -0.5
    coords, scores = codec.decode(hm, method)
    assert coords.shape == (2, 17, 2) and scores.shape == (2, 17)
    assert not coords.any() and not scores.any()


@pytest.mark.parametrize("method", DECODE_METHODS)
def test_decode_zero_and_one_person(codec, method):
    coords, scores = codec.decode(np.zeros((0, 17, 64, 48), np.float32), method)
    assert coords.shape == (0, 17, 2) and scores.shape == (0, 17)
    # all ones: every pixel is the maximum; the first one (0, 0) wins and no method moves it
    # (no gradient for quarter, a singular Hessian for DARK)
    coords, scores = codec.decode(np.ones((1, 17, 64, 48), np.float32), method)
    np.testing.assert_array_equal(coords, np.zeros((1, 17, 2)))
    np.testing.assert_array_equal(scores, np.ones((1, 17)))


def test_decode_rejects_unknown_method_listing_choices(codec):
    with pytest.raises(ValueError, match="argmax.*quarter.*dark"):
        codec.decode(np.zeros((1, 1, 64, 48), np.float32), "soft-argmax")


def test_dark_recovers_subpixel_positions_everywhere_including_border(unbiased):
    rng = np.random.default_rng(1)
    true_hm = np.concatenate(
        [
            rng.uniform([0, 0], [47, 63], (200, 2)),
            # peaks on and next to every border
            np.array([[0.0, 30.2], [0.4, 12.7], [47.0, 5.5], [46.6, 60.1], [23.3, 0.0], [8.8, 63.0],
                      [0.2, 0.3], [46.9, 62.8]]),
        ]
    )  # fmt: skip
    kps = (true_hm * unbiased.stride)[None]
    heatmaps, _ = unbiased.encode(kps, np.ones(kps.shape[:2]))
    errors = {}
    for method in DECODE_METHODS:
        coords, _ = unbiased.decode(heatmaps, method)
        errors[method] = np.linalg.norm(coords[0] - true_hm, axis=-1)
    assert errors["dark"].max() < 1e-3
    assert errors["quarter"].mean() < errors["argmax"].mean()
    assert errors["argmax"].max() <= np.sqrt(0.5) + 1e-9


def test_dark_on_a_spike_and_on_a_flat_plateau(codec):
    hm = np.zeros((1, 2, 64, 48), np.float32)
    hm[0, 0, 30, 20] = 1.0  # a single spike: the blur makes it a symmetric blob around itself
    hm[0, 1, 20:27, 10:17] = 1.0  # a flat 7x7 plateau: argmax is its top-left corner (10, 20)
    coords, _ = codec.decode(hm, "dark")
    np.testing.assert_allclose(coords[0, 0], [20, 30], atol=1e-9)
    # the Newton step towards the plateau's centre (13, 23) is longer than DARK_MAX_STEP
    np.testing.assert_array_equal(coords[0, 1], [10, 20])


def test_dark_blur_kernel_sizes():
    assert dark_blur_kernel(2.0) == 11
    assert dark_blur_kernel(3.0) == 17
    with pytest.raises(ValueError, match="odd"):
        HeatmapCodec((192, 256), (48, 64), blur_kernel=4)


def test_flip_back_swaps_pairs_mirrors_and_shifts():
    hm = np.zeros((1, 17, 4, 6), np.float32)
    hm[0, 1, 2, 1] = 1.0  # left_eye at x=1 in the flipped image
    idx = COCO17.flip_index()
    out = flip_back(hm, idx)
    # mirrored x = 6 - 1 - 1 = 4, shifted right by one = 5, now in the right_eye channel
    assert out[0, 2, 2, 5] == 1.0 and out.sum() == 1.0
    no_shift = flip_back(hm, idx, shift=False)
    assert no_shift[0, 2, 2, 4] == 1.0
    twice = flip_back(flip_back(hm, idx, shift=False), idx, shift=False)
    np.testing.assert_array_equal(twice, hm)
