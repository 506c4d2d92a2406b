"""The course's data sets, read offline from their official files.

``load_dataset(name, split)`` reads ``<root>/<name>/`` (``root`` defaults to
``$GLUON_DL_DATA``, else ``~/.gluon_dl/data``) and never downloads: a missing
set raises :class:`~gluon_dl.errors.DataError` naming the files to place
there and where they come from.  Sets that installed packages ship
(``mnist-5k``, ``digits``, ``iris``, ``wine``, ``breast-cancer``) need no
folder.  ``list_datasets()`` names them all; ``dataset_info(name)`` describes
one.  Adding a set is adding a module here with a ``@register_dataset``
loader.

The synthetic generators (linear data, sequence pairs, digit strips, the
adding problem) are deterministic functions of a seed.
"""
from ._registry import (DatasetInfo, data_root, dataset_info, list_datasets, load_dataset,
                        register_dataset)
from ._synthetic import (adding_problem, addition_pairs, copy_pairs, digit_strips,
                         reverse_pairs, synthetic_linear)

__all__ = ["DatasetInfo", "adding_problem", "addition_pairs", "copy_pairs", "data_root",
           "dataset_info", "digit_strips", "list_datasets", "load_dataset", "register_dataset",
           "reverse_pairs", "synthetic_linear"]
