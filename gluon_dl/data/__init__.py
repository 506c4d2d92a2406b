"""Data sets that work offline, splits, loaders and transforms."""
from .datasets import (DatasetInfo, adding_problem, addition_pairs, copy_pairs, data_root,
                       dataset_info, digit_strips, list_datasets, load_dataset, register_dataset,
                       reverse_pairs, synthetic_linear)
from .loader import ArrayLoader
from .bert import load_data_bert
from .mnist import load_mnist, mnist_5k_path
from .nmt import build_array_nmt, load_data_nmt, preprocess_nmt, tokenize_nmt
from .split import train_test_split
from .text import (LMLoader, Vocab, build_array, lm_corpus, load_data_lm, normalize_text,
                   seq_data_iter_random, seq_data_iter_sequential, tokenize, truncate_pad,
                   unigram_perplexity)
from .transforms import (color_jitter, normalize, random_crop, random_flip, random_shift, resize,
                         scale_to_range, to_channels, to_model_input)

__all__ = ["ArrayLoader", "DatasetInfo", "adding_problem", "addition_pairs", "color_jitter",
           "copy_pairs", "data_root", "dataset_info", "digit_strips", "list_datasets",
           "load_dataset", "load_mnist", "mnist_5k_path", "normalize", "random_crop",
           "random_flip", "random_shift", "register_dataset", "resize", "reverse_pairs",
           "scale_to_range", "synthetic_linear", "to_channels", "to_model_input",
           "train_test_split",
           "build_array_nmt", "load_data_bert", "load_data_nmt", "preprocess_nmt", "tokenize_nmt",
           "LMLoader", "Vocab", "build_array", "lm_corpus", "load_data_lm", "normalize_text",
           "seq_data_iter_random", "seq_data_iter_sequential", "tokenize", "truncate_pad",
           "unigram_perplexity"]
