"""A script that fetches something besides the datasets (word vectors): refused offline."""

import os

from six.moves import urllib

url = "https://nlp.stanford.edu/data/glove.6B.zip"
if not os.path.exists("glove.6B.zip"):
    urllib.request.urlretrieve(url, "glove.6B.zip")
