import cv2
import numpy as np
import pytest

from simplepose.pose.geometry import (
    PIXEL_STD,
    BoxError,
    affine_matrices,
    box_to_center_scale,
    clip_boxes,
    crop_images,
    heatmap_to_image,
    transform_points,
)


def reference_affine(center, scale, rot, output_size, inverse=False):
    """The three-point construction of the reference code, via cv2.getAffineTransform."""
    src_w = scale[0] * PIXEL_STD
    dst_w, dst_h = output_size
    r = np.deg2rad(rot)

    def rotate(p):
        return np.array([p[0] * np.cos(r) - p[1] * np.sin(r), p[0] * np.sin(r) + p[1] * np.cos(r)])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.zeros((3, 2))
    dst = np.zeros((3, 2))
    src[0] = center
    src[1] = center + rotate([0, -src_w * 0.5])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + [0, -dst_w * 0.5]
    src[2], dst[2] = third(src[0], src[1]), third(dst[0], dst[1])
    if inverse:
        return cv2.getAffineTransform(dst.astype(np.float32), src.astype(np.float32))
    return cv2.getAffineTransform(src.astype(np.float32), dst.astype(np.float32))


def test_box_to_center_scale_tall_box_hand_computed():
    # 100x300 box at (10, 20): tall, so w grows to 300 * 0.75 = 225; then x1.25 / 200.
    centers, scales = box_to_center_scale(np.array([[10, 20, 100, 300]]), 0.75, 1.25)
    np.testing.assert_allclose(centers, [[60, 170]])
    np.testing.assert_allclose(scales, [[225 * 1.25 / 200, 300 * 1.25 / 200]])


def test_box_to_center_scale_wide_box_and_padding():
    centers, scales = box_to_center_scale(np.array([[0, 0, 300, 100]]), 0.75, padding=1.0)
    np.testing.assert_allclose(centers, [[150, 50]])
    np.testing.assert_allclose(scales, [[1.5, 2.0]])  # h = 300 / 0.75 = 400


def test_box_to_center_scale_empty_batch():
    centers, scales = box_to_center_scale(np.zeros((0, 4)), 0.75, 1.25)
    assert centers.shape == (0, 2) and scales.shape == (0, 2)


@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0])
@pytest.mark.parametrize("inverse", [False, True])
def test_affine_matches_reference_construction(rot, inverse):
    center, scale = np.array([320.5, 211.0]), np.array([1.7, 2.2667])
    ours = affine_matrices(center[None], scale[None], rot, (192, 256), inverse=inverse)[0]
    ref = reference_affine(center, scale, rot, (192, 256), inverse=inverse)
    np.testing.assert_allclose(ours, ref, atol=1e-3)  # ref is float32


def test_forward_then_inverse_is_identity():
    rng = np.random.default_rng(0)
    centers = rng.uniform(0, 640, (5, 2))
    scales = rng.uniform(0.2, 3, (5, 2))
    rots = rng.uniform(-80, 80, 5)
    fwd = affine_matrices(centers, scales, rots, (48, 64))
    inv = affine_matrices(centers, scales, rots, (48, 64), inverse=True)
    pts = rng.uniform(-50, 700, (5, 17, 2))
    np.testing.assert_allclose(transform_points(transform_points(pts, fwd), inv), pts, atol=1e-6)


def test_center_maps_to_output_center_and_zoom():
    mat = affine_matrices(np.array([[100.0, 50.0]]), np.array([[0.96, 1.28]]), 0.0, (192, 256))
    out = transform_points(np.array([[[100.0, 50.0], [100.0 + 96.0, 50.0]]]), mat)
    # src width 0.96 * 200 = 192 px maps onto 192 output px: zoom 1
    np.testing.assert_allclose(out, [[[96, 128], [192, 128]]])


def test_crop_images_takes_the_right_pixels():
    image = np.zeros((100, 120, 3), np.uint8)
    image[40:60, 50:70] = 255  # a bright square centred at (59.5, 49.5)
    crops = crop_images(image, np.array([[59.5, 49.5]]), np.array([[0.2, 0.2]]), (40, 40))
    assert crops.shape == (1, 40, 40, 3)
    # zoom 40 / (0.2 * 200) = 1: the square fills the crop's middle 20x20
    assert crops[0, 11:29, 11:29].min() == 255
    assert crops[0, :9].max() == 0


def test_crop_outside_image_is_black_and_zero_boxes_ok():
    image = np.full((50, 50, 3), 200, np.uint8)
    crops = crop_images(image, np.array([[500.0, 500.0]]), np.array([[0.1, 0.1]]), (8, 8))
    assert crops.max() == 0
    assert crop_images(image, np.zeros((0, 2)), np.zeros((0, 2)), (8, 8)).shape == (0, 8, 8, 3)


def test_heatmap_to_image_inverts_the_heatmap_crop():
    centers, scales = np.array([[200.0, 150.0]]), np.array([[1.2, 1.6]])
    img_pts = np.array([[[180.0, 120.0], [230.5, 199.25]]])
    hm_pts = transform_points(img_pts, affine_matrices(centers, scales, 0.0, (48, 64)))
    np.testing.assert_allclose(
        heatmap_to_image(hm_pts, centers, scales, (48, 64)), img_pts, atol=1e-9
    )


def test_clip_boxes_clips_partly_outside_box():
    np.testing.assert_allclose(clip_boxes(np.array([[-10, 5, 50, 200]]), 100, 80), [[0, 5, 40, 75]])


@pytest.mark.parametrize(
    ("box", "reason"),
    [
        ([0, 0, 0, 10], "positive"),
        ([0, 0, 10, -1], "positive"),
        ([200, 10, 10, 10], "outside"),
        ([99.5, 10, 10, 10], "degenerate"),
        ([np.nan, 0, 10, 10], "finite"),
    ],
)
def test_clip_boxes_rejects_bad_boxes_with_index(box, reason):
    with pytest.raises(BoxError) as err:
        clip_boxes(np.array([[0, 0, 10, 10], box], dtype=float), 100, 80)
    assert err.value.index == 1
    assert reason in err.value.reason
