"""The sled as a whole: its description, the physics engine and its time, its controls."""
