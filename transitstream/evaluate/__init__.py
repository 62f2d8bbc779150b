"""Measuring the predictor against the simulator's ground truth (ETA accuracy, anomaly recall)."""
