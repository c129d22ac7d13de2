"""Data sources: training images, brain stimuli and brain responses."""
