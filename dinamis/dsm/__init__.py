"""Surface models on demand: a member asks for a DSM from a stereo group of the catalogue."""
