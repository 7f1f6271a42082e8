"""An error raised inside numpy (a missing data file) is reported at the script's own line."""

import numpy as np


def load_features(path):
    return np.load(path)


features = load_features("features_that_were_never_saved.npy")
