"""What each command does, as library calls above the pipeline: batch runs (local and on Ray),
live sessions, embeddings, training and evaluation on the user's own classes, and live's choice
of a model that keeps pace."""
