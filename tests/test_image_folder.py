"""load_image_folder on a small folder of generated files of every kind."""

import numpy as np
import pytest
from PIL import Image

from skdiec import DiEC
from skdiec.datasets import load_image_folder

from .conftest import FAST


def write_photos(root, classes=("cats", "dogs")):
    """Two classes of mixed files: PNG and JPEG of several sizes, a grey and
    an RGBA image, a corrupt JPEG, a text file and a hidden file."""
    for k, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        colour = (200, 30, 30) if k == 0 else (30, 30, 200)
        Image.new("RGB", (40, 30), colour).save(folder / "a.png")
        Image.new("RGB", (24, 64), colour).save(folder / "b.jpg", quality=95)
        Image.new("L", (32, 32), 128).save(folder / "c_grey.png")
        Image.new("RGBA", (20, 20), colour + (255,)).save(folder / "d_rgba.png")
    (root / classes[0] / "e_corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / classes[1] / "notes.txt").write_text("not an image")
    (root / classes[1] / ".DS_Store").write_bytes(b"\0")
    return root


def test_class_folders_give_labels_and_report_what_they_skip(tmp_path):
    with pytest.warns(UserWarning, match="skipped 2 file"):
        photos = load_image_folder(write_photos(tmp_path), image_size=16)
    assert photos.images.shape == (8, 3, 16, 16) and photos.images.dtype == np.uint8
    assert photos.target_names == ["cats", "dogs"]
    assert photos.target.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert photos.filenames[0] == "cats/a.png" and photos.filenames[2] == "cats/c_grey.png"
    assert dict(photos.skipped) == {"cats/e_corrupt.jpg": "not readable as an image "
                                                          "(UnidentifiedImageError)",
                                    "dogs/notes.txt": "not an image extension"}
    # Colour is kept: the cats are red, the dogs blue; the grey image is grey.
    red, blue = photos.images[0].mean(axis=(1, 2)), photos.images[4].mean(axis=(1, 2))
    assert red[0] > 150 > red[2] and blue[2] > 150 > blue[0]
    assert np.ptp(photos.images[2].mean(axis=(1, 2))) == 0


def test_a_flat_folder_has_no_labels_and_grey_has_one_channel(tmp_path):
    for i, size in enumerate([(10, 10), (50, 20), (8, 80)]):
        Image.new("RGB", size, (i * 50,) * 3).save(tmp_path / f"{i}.png")
    photos = load_image_folder(tmp_path, image_size=8, color=False)
    assert photos.images.shape == (3, 1, 8, 8) and photos.target is None
    assert photos.target_names is None and photos.skipped == []


def test_the_shorter_side_is_scaled_and_the_centre_kept(tmp_path):
    # 40 x 20, black on the left quarter and right quarter, white between:
    # scaled to 16 x 8, its centred 8 x 8 square is white (bicubic leaves a
    # trace of the black at its edges); a crop from the left would be half
    # black.
    img = np.zeros((20, 40, 3), dtype=np.uint8)
    img[:, 10:30] = 255
    Image.fromarray(img).save(tmp_path / "wide.png")
    square = load_image_folder(tmp_path, image_size=8).images[0]
    assert square.shape == (3, 8, 8) and square.min() >= 200


def test_an_empty_or_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no image file"):
        load_image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_image_folder(tmp_path / "missing")


def test_its_images_cluster_as_they_are(tmp_path):
    photos = load_image_folder(write_photos(tmp_path), image_size=8)
    est = DiEC(n_clusters=2, random_state=0, **FAST).fit(photos.images)
    assert est.predict(photos.images).shape == (8,)


def test_a_photo_is_turned_as_its_exif_orientation_says(tmp_path):
    # Stored 40 wide and 20 high, white on its left half, with orientation 6
    # (turn 90 degrees clockwise to show): shown 20 wide and 40 high, white
    # on its upper half. The centred square of the shown photo is white
    # above and black below; read as stored, its columns would differ.
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = 255
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "portrait.jpg", exif=exif, quality=95)
    square = load_image_folder(tmp_path, image_size=8, color=False).images[0, 0]
    assert square[:3].min() > 200 and square[-3:].max() < 50


def test_deeper_than_8_bit_grey_images_keep_every_level(tmp_path):
    # 16-bit PNGs of a 12-bit microscope (0-4095; Pillow's 8-bit conversion
    # clipped them to white) and a float TIFF of 0-1 (converted, black):
    # the folder comes back as uint16 with their values, the 8-bit image
    # multiplied by 257, and DiEC fits it.
    ramp = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    Image.fromarray((ramp * 4095).astype(np.uint16)).save(tmp_path / "a_bright.png")
    Image.fromarray((ramp * 2000).astype(np.uint16)).save(tmp_path / "b_dim.png")
    Image.fromarray(ramp.astype(np.float32)).save(tmp_path / "c_float.tif")
    Image.new("L", (32, 32), 128).save(tmp_path / "d_8bit.png")
    photos = load_image_folder(tmp_path, image_size=8)
    assert photos.images.dtype == np.uint16
    bright, dim, flat, eight_bit = photos.images.astype(int)
    assert 3800 < bright.max() <= 4095 and 1800 < dim.max() <= 2000
    assert len(np.unique(dim)) > 40  # levels an 8-bit copy of 0-2000 scaled to 0-255 merges
    assert flat.max() > 60000 and (eight_bit == 128 * 257).all()
    for square in (bright, dim):  # grey: the same on every channel
        assert (square == square[0]).all()
    est = DiEC(n_clusters=2, random_state=0, **FAST).fit(photos.images)
    np.testing.assert_array_equal(est.predict(photos.images), est.labels_)


def test_a_large_jpeg_is_decoded_reduced_to_the_same_square(tmp_path):
    # A 1600 x 1200 photo decodes at 1/8 (200 x 150, still above 16): the
    # square differs from one resized from every pixel by rounding only.
    rng = np.random.RandomState(0)
    small = (rng.uniform(size=(12, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(small).resize((1600, 1200), Image.Resampling.BICUBIC).save(
        tmp_path / "big.jpg", quality=95)
    with Image.open(tmp_path / "big.jpg") as img:
        full = np.asarray(img.convert("RGB").resize((21, 16), Image.Resampling.BICUBIC)
                          .crop((2, 0, 18, 16)), dtype=float).transpose(2, 0, 1)
    with Image.open(tmp_path / "big.jpg") as img:
        img.draft("RGB", (16, 16))
        assert img.size == (200, 150)
    square = load_image_folder(tmp_path, image_size=16).images[0].astype(float)
    assert np.abs(square - full).mean() < 3


def test_linked_class_folders_are_read_and_broken_links_reported(tmp_path):
    # A class folder gathered by a link was skipped without a word, a whole
    # class lost; a broken link vanished unreported.
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    (photos / "cats" / "more").mkdir(parents=True)
    elsewhere.mkdir()
    for i in range(2):
        Image.new("RGB", (10, 10), (200, 0, 0)).save(photos / "cats" / f"{i}.png")
        Image.new("RGB", (10, 10), (0, 0, 200)).save(elsewhere / f"{i}.png")
    Image.new("RGB", (10, 10)).save(photos / "cats" / "more" / "deep.png")
    try:
        (photos / "dogs").symlink_to(elsewhere, target_is_directory=True)
        (photos / "cats" / "gone.png").symlink_to(tmp_path / "nowhere.png")
        (photos / "cats" / "up").symlink_to(photos, target_is_directory=True)  # a loop
    except OSError:  # no symbolic links here (Windows without the right)
        pytest.skip("this file system makes no symbolic links")
    with pytest.warns(UserWarning, match="skipped 3 file"):
        data = load_image_folder(photos, image_size=8)
    assert data.filenames == ["cats/0.png", "cats/1.png", "dogs/0.png", "dogs/1.png"]
    assert data.target_names == ["cats", "dogs"] and data.target.tolist() == [0, 0, 1, 1]
    assert dict(data.skipped) == {"cats/gone.png": "a broken link or not a regular file",
                                  "cats/more/": "a folder inside a class folder",
                                  "cats/up/": "a folder inside a class folder"}
