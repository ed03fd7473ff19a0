"""LeRobotDataset v3.0 export and import of the episode store."""
