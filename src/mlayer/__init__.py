"""mlayer: serve scikit-learn models on AWS Lambda as layers."""

__version__ = "0.1.0"
