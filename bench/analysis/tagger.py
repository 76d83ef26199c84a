"""musicnn's MagnaTagATune tagger (MTT_musicnn), loaded once for many files.

``musicnn.extractor.extractor`` rebuilds the TensorFlow graph and restores the weights
on every call (about 5 s a file) and swallows a failed restore with a bare ``except``,
which would leave random weights. This class builds the same graph once, restores the
weights that ship inside the musicnn wheel and fails loudly if they are missing. The
spectrogram patches come from musicnn's own ``batch_data`` (3 s, no overlap), so the
tags equal ``extractor(file, model="MTT_musicnn")`` averaged over time.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np


class MTTTagger:
    """Mean tag probabilities of a file over its 3 s patches."""

    MODEL = "MTT_musicnn"

    def __init__(self) -> None:
        import librosa
        import tensorflow as tf
        from musicnn import configuration as config
        from musicnn import models

        tf.compat.v1.disable_eager_execution()
        self.config = config
        self.labels = list(config.MTT_LABELS)
        self.n_frames = librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP) + 1
        self.graph = tf.Graph()
        with self.graph.as_default(), tf.name_scope("model"):
            self.x = tf.compat.v1.placeholder(tf.float32, [None, self.n_frames, config.N_MELS])
            self.is_training = tf.compat.v1.placeholder(tf.bool)
            logits = models.define_model(self.x, self.is_training, self.MODEL, len(self.labels))[0]
            self.y = tf.nn.sigmoid(logits)
            saver = tf.compat.v1.train.Saver()
        self.session = tf.compat.v1.Session(graph=self.graph)
        weights = os.path.join(os.path.dirname(models.__file__), self.MODEL, "")
        saver.restore(self.session, weights)  # raises if the weights are missing

    def tags(self, path: str) -> dict[str, float]:
        """Tag -> mean probability over the file's non-overlapping 3 s patches."""
        from musicnn.extractor import batch_data

        with contextlib.redirect_stdout(sys.stderr):
            batch, _ = batch_data(path, self.n_frames, self.n_frames)
        size = self.config.BATCH_SIZE
        outputs = [self.session.run(self.y, feed_dict={self.x: batch[i:i + size], self.is_training: False})
                   for i in range(0, len(batch), size)]
        mean = np.concatenate(outputs).mean(axis=0)
        return {label: round(float(p), 5) for label, p in zip(self.labels, mean)}


def run(renders: list[dict]) -> dict:
    tagger = MTTTagger()
    return {"renders": [{"name": r["name"], "tags": tagger.tags(r["wav"])} for r in renders]}
