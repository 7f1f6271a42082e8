"""The download-and-parse helper many TF1 MNIST scripts carried (input_data's old code)."""

import gzip
import os

import numpy as np
from six.moves import urllib

SOURCE_URL = "http://yann.lecun.com/exdb/mnist/"


def maybe_download(filename, work_directory):
    """Download the data from Yann's website, unless it's already here."""
    if not os.path.exists(work_directory):
        os.mkdir(work_directory)
    filepath = os.path.join(work_directory, filename)
    if not os.path.exists(filepath):
        filepath, _ = urllib.request.urlretrieve(SOURCE_URL + filename, filepath)
        statinfo = os.stat(filepath)
        print("Successfully downloaded", filename, statinfo.st_size, "bytes.")
    return filepath


def _read32(bytestream):
    dt = np.dtype(np.uint32).newbyteorder(">")
    return np.frombuffer(bytestream.read(4), dtype=dt)[0]


def extract_images(filename):
    with gzip.open(filename) as bytestream:
        magic = _read32(bytestream)
        assert magic == 2051, magic
        num, rows, cols = _read32(bytestream), _read32(bytestream), _read32(bytestream)
        data = np.frombuffer(bytestream.read(rows * cols * num), dtype=np.uint8)
        return data.reshape(num, rows, cols, 1)


def extract_labels(filename):
    with gzip.open(filename) as bytestream:
        assert _read32(bytestream) == 2049
        num = _read32(bytestream)
        return np.frombuffer(bytestream.read(num), dtype=np.uint8).astype(np.int)
