"""The model: the registry of MoViNet variants and its cache, SavedModels, trained heads,
labels, and the engines (OpenVINO, TensorFlow) that run them."""
