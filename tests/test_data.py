"""The seeded data generators: deterministic per seed, and what they claim to draw is there."""

import numpy as np
import pytest

from graders.data import (DNA_ALPHABET, make_motif_sequences, make_shapes, make_shifted_digits,
                          secret_seed)


def test_secret_seed_depends_on_secret_and_tag(monkeypatch):
    monkeypatch.setenv("GRADERS_SECRET", "one")
    a, b = secret_seed("x"), secret_seed("y")
    monkeypatch.setenv("GRADERS_SECRET", "two")
    assert len({a, b, secret_seed("x")}) == 3


def test_shapes_masks_match_images_and_labels():
    shapes = make_shapes(300, size=20, noise=0.0, seed=3)
    assert shapes.images.shape == (300, 1, 20, 20) and shapes.images.dtype == np.float32
    assert np.array_equal(shapes.images[:, 0] > 0.5, shapes.masks)
    assert set(shapes.labels) == {0, 1, 2}
    area = shapes.masks.sum(axis=(1, 2)).astype(float)
    # for the same extents, squares fill their box, circles ~pi/4 of it, triangles ~1/2
    mean_area = [area[shapes.labels == k].mean() for k in range(3)]
    assert mean_area[0] > mean_area[1] > mean_area[2] > 0
    again = make_shapes(300, size=20, noise=0.0, seed=3)
    assert np.array_equal(again.masks, shapes.masks)


def test_shapes_reject_bad_arguments():
    with pytest.raises(ValueError, match="unknown shape kinds"):
        make_shapes(3, kinds=("hexagon",))
    with pytest.raises(ValueError, match="min_extent"):
        make_shapes(3, size=8, max_extent=12)


def test_shifted_digits_keep_the_digit_and_move_it():
    images, labels = make_shifted_digits(canvas=14, seed=0)
    assert images.shape == (1797, 1, 14, 14) and labels.shape == (1797,)
    assert images.min() >= 0 and images.max() <= 1
    # each digit's ink is the original digit's ink, wherever it went
    from sklearn.datasets import load_digits
    ink = load_digits().images.sum(axis=(1, 2)) / 16
    assert np.allclose(images.sum(axis=(1, 2, 3)), ink, atol=1e-4)
    centres = [np.argwhere(im[0] > 0).mean(axis=0) for im in images[:200]]
    assert np.ptp(np.array(centres), axis=0).min() > 3     # they really moved


def test_motif_sequences_plant_the_motif():
    motif = "TGACGTCA"
    data = make_motif_sequences(400, length=40, motif=motif, mutation_rate=0.0, seed=1)
    assert all(len(s) == 40 and set(s) <= set(DNA_ALPHABET) for s in data.sequences)
    for seq, label, pos in zip(data.sequences, data.labels, data.positions):
        if label:
            assert seq[pos:pos + len(motif)] == motif
        else:
            assert pos == -1
    mutated = make_motif_sequences(400, length=40, motif=motif, mutation_rate=0.25, seed=1)
    mismatches = [sum(a != b for a, b in zip(s[p:p + 8], motif))
                  for s, p in zip(mutated.sequences, mutated.positions) if p >= 0]
    assert 1.0 < np.mean(mismatches) < 3.0          # about 0.25 * 8 = 2 bases changed
    with pytest.raises(ValueError, match="motif"):
        make_motif_sequences(3, motif="TGAXX")
