"""Kernels of the ai.onnx.ml domain (what skl2onnx exports): one module a family.

`linear` (LinearClassifier, LinearRegressor), `svm` (SVMClassifier, SVMRegressor), `trees`
(TreeEnsemble, TreeEnsembleClassifier, TreeEnsembleRegressor), `preprocessing` (Binarizer,
Scaler, Normalizer, Imputer, ArrayFeatureExtractor, FeatureVectorizer) and `encoders`
(LabelEncoder, CategoryMapper, OneHotEncoder, DictVectorizer, CastMap, ZipMap). Maps are
Python dicts, ZipMap's output a Python list of dicts.
"""

from __future__ import annotations

from . import encoders, linear, preprocessing, svm, trees

__all__ = ["encoders", "linear", "preprocessing", "svm", "trees"]
