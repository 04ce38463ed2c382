"""Where frames come from: video files decoded (in an isolated child process), cameras and
streams captured, and the child processes that keep a decoder's crash away from the run."""
