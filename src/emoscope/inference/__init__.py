"""The analysis pipeline: media -> detector -> tracker -> crops -> model -> smoothing -> writers."""
