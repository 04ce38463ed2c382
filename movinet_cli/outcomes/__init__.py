"""From a loaded model and decoded frames to outcomes: loading a classifier, the pipeline that
runs it over videos (clip and stream), the result of each video and its timeline."""
