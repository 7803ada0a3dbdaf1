"""The training stage: one run of the multitask LSTM on the caches, predictions and scores out.

``trainer`` is the run (fit, predict, score, write, track); ``dataset`` builds the training data
from the caches; ``model`` is the LSTM, ``loss`` the weighted CCC loss, ``task`` the
LightningModule; ``devices`` claims one GPU per training process; ``job`` is what the workflow's
training rules run (a rule's paths and params -> one run).
"""
