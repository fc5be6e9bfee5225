"""transferlab: what a pre-trained model passes on to the models fine-tuned from it."""

from importlib.metadata import PackageNotFoundError, version

from .utils import set_seed

try:
    __version__ = version("transferlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["set_seed", "__version__"]
