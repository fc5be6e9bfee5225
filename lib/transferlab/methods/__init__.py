"""Methods reusable beyond this book, each a module of its own.

- :mod:`.bias_finder`: overlay a feature on images and measure how a model's outputs shift.
- :mod:`.subset_influence`: influence of source classes from models trained on random class subsets
  (difference of means, linear datamodels) and their convergence.
- :mod:`.gradient_influence`: a gradient-based (TRAK-style) estimator of the same influences.
- :mod:`.defects`: defects of a teacher its students may inherit (adversarial, coverage-guided
  fuzzing, BadNets and latent backdoors) and the rate at which they do.
- :mod:`.slicing`: ways to train a student from a teacher (ReMoS and its baselines).
- :mod:`.probes`: linear probes of a model's features, and removing an attribute's directions.
- :mod:`.stats`: rank statistics the estimators and chapters share.
"""
