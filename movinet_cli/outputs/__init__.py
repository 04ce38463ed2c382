"""Where outcomes go: the row formats, the sinks that write them (stdout, results files,
timelines, subtitles, annotated video, the report) and the live window."""
